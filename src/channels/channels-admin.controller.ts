import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Put, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Roles } from '../common/auth/auth.decorators';
import { ChannelListResponseDto, ChannelResponseDto, PutChannelRequestDto, toChannelResponse } from './channel.dto';
import { ChannelsService } from './channels.service';

@ApiTags('admin')
@ApiBearerAuth()
@Roles('admin')
@Controller('v1/admin/channels')
export class ChannelsAdminController {
  constructor(private readonly channels: ChannelsService) {}

  /** Every channel definition. */
  @Get()
  async listChannels(): Promise<ChannelListResponseDto> {
    return { channels: (await this.channels.list()).map(toChannelResponse) };
  }

  /** Creates or replaces a channel. The broker's rules follow at once, without a restart. */
  @Put(':channel')
  @ApiOkResponse({ type: ChannelResponseDto, description: 'Replaced' })
  @ApiCreatedResponse({ type: ChannelResponseDto, description: 'Created' })
  async putChannel(
    @Param('channel') name: string,
    @Body() body: PutChannelRequestDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ChannelResponseDto> {
    const { channel, created } = await this.channels.put(name, body);
    void reply.status(created ? HttpStatus.CREATED : HttpStatus.OK);
    return toChannelResponse(channel);
  }

  /** Deletes a channel (refused with 409 while other channels ride on it). */
  @Delete(':channel')
  @HttpCode(HttpStatus.NO_CONTENT)
  async deleteChannel(@Param('channel') name: string): Promise<void> {
    await this.channels.delete(name);
  }
}
