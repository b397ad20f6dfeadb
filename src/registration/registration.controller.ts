import { Body, Controller, HttpCode, HttpStatus, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Caller, Roles } from '../common/auth/auth.decorators';
import type { ApiCaller } from '../common/auth/api-caller';
import { RegisterClientRequestDto, RegisterPortalClientRequestDto, RegistrationResponseDto } from './registration.dto';
import { RegistrationService } from './registration.service';

@ApiTags('registration')
@ApiBearerAuth()
@Controller('v1')
export class RegistrationController {
  constructor(private readonly registration: RegistrationService) {}

  /** Registers the caller and returns its broker credentials. Registering again refreshes them. */
  @Post('registrations')
  @HttpCode(HttpStatus.CREATED)
  async registerClient(@Caller() caller: ApiCaller, @Body() body: RegisterClientRequestDto): Promise<RegistrationResponseDto> {
    return this.registration.registerClient(caller, body.connectionType);
  }

  /** Registers a portal client (WEBSOCKET) or a named device (OPENSSL, returns a certificate and its key once). */
  @Post('admin/registrations')
  @Roles('admin')
  @HttpCode(HttpStatus.CREATED)
  async registerPortalClient(@Caller() caller: ApiCaller, @Body() body: RegisterPortalClientRequestDto): Promise<RegistrationResponseDto> {
    return this.registration.registerPortalClient(caller, body.connectionType, body.clientId);
  }
}
