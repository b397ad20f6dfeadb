import { Body, Controller, createParamDecorator, type ExecutionContext, HttpCode, HttpStatus, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiTags } from '@nestjs/swagger';
import { Caller, Roles } from '../common/auth/auth.decorators';
import type { ApiCaller } from '../common/auth/api-caller';
import { checkIdempotencyKey, fingerprint, IdempotencyService } from './idempotency.service';
import { BroadcastRequestDto, PublishResultResponseDto, SendClientMessageRequestDto, SendDirectRequestDto } from './publishing.dto';
import { type PublishRequest, PublishingService } from './publishing.service';

const IDEMPOTENCY_HEADER = {
  name: 'Idempotency-Key',
  required: false,
  description:
    'Makes a retry safe: a repeat of a succeeded call with the same key by the same caller within 24 h answers the first call\'s result (same messageId) and publishes nothing; the same key with a different body is 422 IDEMPOTENCY_KEY_REUSED.',
  schema: { type: 'string', pattern: '^[A-Za-z0-9:._-]{1,128}$' },
};

/** The raw `Idempotency-Key` header (checked in `publish`); documented by @ApiHeader, not by the parameter. */
const IdempotencyKey = createParamDecorator((_data: unknown, context: ExecutionContext): unknown => {
  const headers = context.switchToHttp().getRequest<{ headers: Record<string, unknown> }>().headers;
  return headers['idempotency-key'];
});

@ApiTags('messages')
@ApiBearerAuth()
@Controller('v1')
export class PublishingController {
  constructor(
    private readonly publishing: PublishingService,
    private readonly idempotency: IdempotencyService,
  ) {}

  /** A client sends a message to a channel open to client sends; it is validated, then broadcast with `From` set. */
  @Post('channels/:channel/messages')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiHeader(IDEMPOTENCY_HEADER)
  async sendClientMessage(
    @Param('channel') channel: string,
    @Body() body: SendClientMessageRequestDto,
    @Caller() caller: ApiCaller,
    @IdempotencyKey() key?: string,
  ): Promise<PublishResultResponseDto> {
    return this.publish(caller, key, 'sendClientMessage', { source: 'client', senderId: caller.clientId, channel, message: body.message });
  }

  /** Broadcasts a message to every client subscribed to the channel. */
  @Post('messages/broadcast')
  @Roles('service', 'admin')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiHeader(IDEMPOTENCY_HEADER)
  async broadcast(@Body() body: BroadcastRequestDto, @Caller() caller: ApiCaller, @IdempotencyKey() key?: string): Promise<PublishResultResponseDto> {
    return this.publish(caller, key, 'broadcast', { source: caller.role === 'admin' ? 'admin' : 'service', senderId: caller.clientId, channel: body.channel, message: body.message });
  }

  /** Sends a message to one registered client, on its private topic of the channel. */
  @Post('messages/direct')
  @Roles('service', 'admin')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiHeader(IDEMPOTENCY_HEADER)
  async sendDirect(@Body() body: SendDirectRequestDto, @Caller() caller: ApiCaller, @IdempotencyKey() key?: string): Promise<PublishResultResponseDto> {
    return this.publish(caller, key, 'sendDirect', {
      source: caller.role === 'admin' ? 'admin' : 'service',
      senderId: caller.clientId,
      channel: body.channel,
      message: body.message,
      targetClientId: body.clientId,
    });
  }

  private async publish(caller: ApiCaller, header: string | undefined, operation: string, request: PublishRequest): Promise<PublishResultResponseDto> {
    const key = checkIdempotencyKey(header);
    if (key === undefined) {
      return this.publishing.publish(request);
    }
    const print = fingerprint(operation, request.channel, request.targetClientId, request.message);
    return this.idempotency.once(`http:${caller.clientId}`, key, print, HttpStatus.ACCEPTED, () => this.publishing.publish(request));
  }
}
