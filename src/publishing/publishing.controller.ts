import { Body, Controller, HttpCode, HttpStatus, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Caller, Roles } from '../common/auth/auth.decorators';
import type { ApiCaller } from '../common/auth/api-caller';
import { BroadcastRequestDto, PublishResultResponseDto, SendClientMessageRequestDto, SendDirectRequestDto } from './publishing.dto';
import { PublishingService } from './publishing.service';

@ApiTags('messages')
@ApiBearerAuth()
@Controller('v1')
export class PublishingController {
  constructor(private readonly publishing: PublishingService) {}

  /** A client sends a message to a channel open to client sends; it is validated, then broadcast with `From` set. */
  @Post('channels/:channel/messages')
  @HttpCode(HttpStatus.ACCEPTED)
  async sendClientMessage(@Param('channel') channel: string, @Body() body: SendClientMessageRequestDto, @Caller() caller: ApiCaller): Promise<PublishResultResponseDto> {
    return this.publishing.publish({ source: 'client', senderId: caller.clientId, channel, message: body.message });
  }

  /** Broadcasts a message to every client subscribed to the channel. */
  @Post('messages/broadcast')
  @Roles('service', 'admin')
  @HttpCode(HttpStatus.ACCEPTED)
  async broadcast(@Body() body: BroadcastRequestDto, @Caller() caller: ApiCaller): Promise<PublishResultResponseDto> {
    return this.publishing.publish({ source: caller.role === 'admin' ? 'admin' : 'service', senderId: caller.clientId, channel: body.channel, message: body.message });
  }

  /** Sends a message to one registered client, on its private topic of the channel. */
  @Post('messages/direct')
  @Roles('service', 'admin')
  @HttpCode(HttpStatus.ACCEPTED)
  async sendDirect(@Body() body: SendDirectRequestDto, @Caller() caller: ApiCaller): Promise<PublishResultResponseDto> {
    return this.publishing.publish({
      source: caller.role === 'admin' ? 'admin' : 'service',
      senderId: caller.clientId,
      channel: body.channel,
      message: body.message,
      targetClientId: body.clientId,
    });
  }
}
