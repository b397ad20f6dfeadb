import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Patch, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Caller, Roles } from '../common/auth/auth.decorators';
import type { ApiCaller } from '../common/auth/api-caller';
import { ListUsersQueryDto, SetUserStatusRequestDto, toUserListResponse, toUserResponse, UserListResponseDto, UserResponseDto } from './user.dto';
import { UsersService } from './users.service';

/** Named on a ban or revocation whose sessions an instance of an embedded cluster did not confirm closing in time. */
const UNCONFIRMED = 'X-Unconfirmed-Instances';
const UNCONFIRMED_HEADER = {
  [UNCONFIRMED]: {
    description:
      'Embedded cluster only, and only when it happened: the instances (INSTANCE_ID, comma-separated) that did not confirm within CLUSTER_CONFIRM_TIMEOUT_MS that they closed the client\'s sessions. The change is stored either way.',
    schema: { type: 'string' },
  },
};

@ApiTags('admin')
@ApiBearerAuth()
@Roles('admin')
@Controller('v1/admin/users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  /** Registered clients, a page at a time (cursor pagination), optionally filtered by status. */
  @Get()
  async listUsers(@Query() query: ListUsersQueryDto): Promise<UserListResponseDto> {
    return toUserListResponse(await this.users.list(query));
  }

  /** One client. */
  @Get(':clientId')
  async getUser(@Param('clientId') clientId: string): Promise<UserResponseDto> {
    return toUserResponse(await this.users.get(clientId));
  }

  /** Bans (closing live connections before returning) or un-bans a client. */
  @Patch(':clientId')
  @ApiResponse({ status: 200, type: UserResponseDto, headers: UNCONFIRMED_HEADER })
  async setUserStatus(
    @Param('clientId') clientId: string,
    @Body() body: SetUserStatusRequestDto,
    @Caller() caller: ApiCaller,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<UserResponseDto> {
    const user = await this.users.setStatus(clientId, body.status, body.reason, caller.clientId, body.expiresAt);
    sayUnconfirmed(reply, user.unconfirmedInstances);
    return toUserResponse(user);
  }

  /** Revokes one certificate of a client (its other certificates keep working); live sessions that used it are closed first. */
  @Delete(':clientId/certificates/:certificateId')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiResponse({ status: 204, headers: UNCONFIRMED_HEADER })
  async revokeCertificate(
    @Param('clientId') clientId: string,
    @Param('certificateId') certificateId: string,
    @Caller() caller: ApiCaller,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<void> {
    const { unconfirmedInstances } = await this.users.revokeCertificate(clientId, certificateId, caller.clientId);
    sayUnconfirmed(reply, unconfirmedInstances);
  }
}

function sayUnconfirmed(reply: FastifyReply, instances: string[] | undefined): void {
  if (instances !== undefined && instances.length > 0) {
    void reply.header(UNCONFIRMED, instances.join(', '));
  }
}
