import { ApiProperty } from '@nestjs/swagger';
import { IsString, Matches } from 'class-validator';
import { CHANNEL_NAME_PATTERN, CLIENT_ID_PATTERN } from '../domain/ids';

export class SendClientMessageRequestDto {
  /** The message text (often JSON). At most the channel's maxMessageBytes (UTF-8). */
  @ApiProperty({ example: 'gg, rematch?' })
  @IsString()
  message: string;
}

export class BroadcastRequestDto {
  @ApiProperty({ example: 'CloudGemWebCommunicator' })
  @Matches(CHANNEL_NAME_PATTERN)
  channel: string;

  /** The message text (often JSON). */
  @ApiProperty({ example: 'new pak available' })
  @IsString()
  message: string;
}

export class SendDirectRequestDto {
  @ApiProperty({ example: 'CloudGemWebCommunicator' })
  @Matches(CHANNEL_NAME_PATTERN)
  channel: string;

  /** The registered client to deliver to (its private topic on the channel). */
  @ApiProperty({ example: 'alice' })
  @Matches(CLIENT_ID_PATTERN)
  clientId: string;

  /** The message text (often JSON). */
  @ApiProperty({ example: '{"reward":"gold-skin"}' })
  @IsString()
  message: string;
}

export class PublishResultResponseDto {
  /** The envelope's `Id`. */
  messageId: string;

  channel: string;

  /** The topic the message was published on. */
  topic: string;
}
