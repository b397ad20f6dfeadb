import { Body, Controller, Get, Param, Patch } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Caller, Roles } from '../common/auth/auth.decorators';
import type { ApiCaller } from '../common/auth/api-caller';
import { ClientIdParamPipe } from './client-id.pipe';
import { ClientStateResponseDto, toClientStateResponse, UpdateStateRequestDto } from './state.dto';
import { StateService } from './state.service';

@ApiTags('state')
@ApiBearerAuth()
@Controller('v1')
export class StateController {
  constructor(private readonly state: StateService) {}

  /** The caller's own state document (AWS IoT classic shadow semantics). */
  @Get('state')
  async getOwnState(@Caller() caller: ApiCaller): Promise<ClientStateResponseDto> {
    return toClientStateResponse(await this.state.get(caller.clientId));
  }

  /** Reports the caller's state: a client may change only `reported`. */
  @Patch('state')
  async updateOwnState(@Body() body: UpdateStateRequestDto, @Caller() caller: ApiCaller): Promise<ClientStateResponseDto> {
    const { current } = await this.state.update(caller.role, caller.clientId, body);
    return toClientStateResponse(current);
  }

  /** A client's state document. */
  @Roles('service', 'admin')
  @Get('clients/:clientId/state')
  async getClientState(@Param('clientId', ClientIdParamPipe) clientId: string): Promise<ClientStateResponseDto> {
    return toClientStateResponse(await this.state.get(clientId));
  }

  /** Changes a client's state document (`desired` and/or `reported`); the client hears the delta on its shadow topics. */
  @Roles('service', 'admin')
  @Patch('clients/:clientId/state')
  async updateClientState(
    @Param('clientId', ClientIdParamPipe) clientId: string,
    @Body() body: UpdateStateRequestDto,
    @Caller() caller: ApiCaller,
  ): Promise<ClientStateResponseDto> {
    const { current } = await this.state.update(caller.role, clientId, body);
    return toClientStateResponse(current);
  }
}
