import { ApiProperty } from '@nestjs/swagger';

export class StatusResponseDto {
  @ApiProperty({ enum: ['online'] })
  status: 'online';

  /** Service version. */
  version: string;

  /** Broker driver in use. */
  @ApiProperty({ enum: ['embedded', 'aws-iot'] })
  broker: 'embedded' | 'aws-iot';

  /** Store driver in use. */
  @ApiProperty({ enum: ['embedded', 'dynamodb'] })
  store: 'embedded' | 'dynamodb';

  uptimeSeconds: number;
}
