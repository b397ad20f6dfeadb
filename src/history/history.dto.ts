import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Matches, Max, Min } from 'class-validator';
import { CLIENT_ID_PATTERN } from '../domain/ids';

export const DEFAULT_HISTORY_LIMIT = 100;
export const MAX_HISTORY_LIMIT = 1000;

export class ListChannelMessagesQueryDto {
  /** Messages with `Seq` greater than this (the last `Seq` the client saw); default 0. */
  @ApiPropertyOptional({ type: 'integer', example: 41, minimum: 0 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  after?: number;

  /** At most this many messages, 1 to 1000 (default 100). */
  @ApiPropertyOptional({ type: 'integer', example: 100, minimum: 1, maximum: MAX_HISTORY_LIMIT })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_HISTORY_LIMIT)
  limit?: number;

  /** Read this client's private stream instead of the broadcast stream (a plain client: only its own id). */
  @ApiPropertyOptional({ example: 'alice' })
  @IsOptional()
  @Matches(CLIENT_ID_PATTERN)
  clientId?: string;
}

/** A message as clients receive it on the broker. */
export class EnvelopeDto {
  @ApiProperty({ example: 'news' })
  Channel: string;

  @ApiProperty({ example: 'server restarts at 02:00' })
  Message: string;

  @ApiProperty({ format: 'uuid' })
  Id: string;

  @ApiProperty({ format: 'date-time' })
  Time: string;

  /** Set on client-sent messages. */
  @ApiPropertyOptional({ example: 'alice' })
  From?: string;

  /** Per stream: +1 per message, from 1 (set on channels that keep history). */
  @ApiPropertyOptional({ type: 'integer', example: 42 })
  Seq?: number;
}

export class ChannelMessagesResponseDto {
  /** The channel asked for. */
  @ApiProperty({ example: 'news' })
  channel: string;

  /** The stream read: the broadcast topic, or the client's private topic. */
  @ApiProperty({ example: 'webcommunicator/dev/news' })
  topic: string;

  /** Messages with `Seq > after`, ascending. */
  messages: EnvelopeDto[];

  /** The stream's last `Seq` (0 before its first message). */
  @ApiProperty({ type: 'integer', example: 42 })
  latestSeq: number;

  /** False when messages after `after` were already dropped by size or TTL: resynchronise another way. */
  @ApiProperty({ example: true })
  complete: boolean;
}
