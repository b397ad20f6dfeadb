import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Roles } from '../common/auth/auth.decorators';
import { GetPresenceQueryDto, PresenceResponseDto, toPresenceResponse } from './presence.dto';
import { PresenceService } from './presence.service';

@ApiTags('presence')
@ApiBearerAuth()
@Controller('v1/presence')
export class PresenceController {
  constructor(private readonly presence: PresenceService) {}

  /** Whether these clients are connected now, and when they were last seen (`?clientId=a&clientId=b`, up to 100). */
  @Get()
  @Roles('service', 'admin')
  async getPresence(@Query() query: GetPresenceQueryDto): Promise<PresenceResponseDto> {
    return toPresenceResponse(await this.presence.get(query.clientId));
  }
}
