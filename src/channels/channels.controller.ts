import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Caller } from '../common/auth/auth.decorators';
import type { ApiCaller } from '../common/auth/api-caller';
import { SubscriptionListResponseDto } from './channel.dto';
import { ChannelsService } from './channels.service';

@ApiTags('channels')
@ApiBearerAuth()
@Controller('v1/channels')
export class ChannelsController {
  constructor(private readonly channels: ChannelsService) {}

  /** The topics the caller should subscribe to: every broadcast topic and its own private topics. */
  @Get()
  async listSubscriptions(@Caller() caller: ApiCaller): Promise<SubscriptionListResponseDto> {
    return { subscriptions: await this.channels.subscriptions(caller.clientId) };
  }
}
