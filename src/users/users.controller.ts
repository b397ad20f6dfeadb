import { Body, Controller, Get, Param, Patch, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Caller, Roles } from '../common/auth/auth.decorators';
import type { ApiCaller } from '../common/auth/api-caller';
import { ListUsersQueryDto, SetUserStatusRequestDto, toUserListResponse, toUserResponse, UserListResponseDto, UserResponseDto } from './user.dto';
import { UsersService } from './users.service';

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
  async setUserStatus(@Param('clientId') clientId: string, @Body() body: SetUserStatusRequestDto, @Caller() caller: ApiCaller): Promise<UserResponseDto> {
    return toUserResponse(await this.users.setStatus(clientId, body.status, body.reason, caller.clientId));
  }
}
