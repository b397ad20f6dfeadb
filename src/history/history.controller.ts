import { Controller, Get, Header, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Caller } from '../common/auth/auth.decorators';
import type { ApiCaller } from '../common/auth/api-caller';
import { ChannelMessagesResponseDto, DEFAULT_HISTORY_LIMIT, ListChannelMessagesQueryDto } from './history.dto';
import { HistoryReader } from './history-reader';

@ApiTags('messages')
@ApiBearerAuth()
@Controller('v1/channels')
export class HistoryController {
  constructor(private readonly reader: HistoryReader) {}

  /**
   * A stream's history, to recover after a reconnect: the messages with `Seq > after`. Without `clientId`
   * the channel's broadcast stream; with it, that client's private stream (a plain client may read only
   * its own, and broadcast streams of channels it may subscribe to).
   */
  @Get(':channel/messages')
  @Header('Content-Type', 'application/json; charset=utf-8')
  @ApiOkResponse({ type: ChannelMessagesResponseDto })
  async listChannelMessages(@Param('channel') channel: string, @Query() query: ListChannelMessagesQueryDto, @Caller() caller: ApiCaller): Promise<Buffer> {
    // A ChannelMessages document, already serialised to UTF-8 (see HistoryReader.readJson).
    return this.reader.readJson(caller, channel, { after: query.after ?? 0, limit: query.limit ?? DEFAULT_HISTORY_LIMIT, clientId: query.clientId });
  }
}
