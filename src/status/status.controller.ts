import { Controller, Get } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Public } from '../common/auth/auth.decorators';
import { AppConfig } from '../config/app-config';
import { StatusResponseDto } from './status.dto';
import { version } from './version';

@ApiTags('status')
@Public()
@Controller('v1/status')
export class StatusController {
  private readonly startedAt = Date.now();

  constructor(private readonly config: AppConfig) {}

  /** Whether the service is online, and which drivers it runs. */
  @Get()
  getStatus(): StatusResponseDto {
    return {
      status: 'online',
      version,
      broker: this.config.broker.driver,
      store: this.config.store.driver,
      uptimeSeconds: Math.floor((Date.now() - this.startedAt) / 1000),
    };
  }
}
