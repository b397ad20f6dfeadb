import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { CLIENT_STATUSES, type ClientStatus, CONNECTION_TYPES, type ConnectionType } from '../domain/client';
import type { User, UserPage } from './users.service';

export class ListUsersQueryDto {
  /** Only users with this status. */
  @ApiProperty({ enum: CLIENT_STATUSES, required: false, example: 'BANNED' })
  @IsOptional()
  @IsIn(CLIENT_STATUSES)
  status?: ClientStatus;

  /** Page size, 1 to 100 (default 25). */
  @ApiPropertyOptional({ example: 25 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;

  /** `nextCursor` of the previous page. */
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  cursor?: string;
}

export class SetUserStatusRequestDto {
  @ApiProperty({ enum: CLIENT_STATUSES, example: 'BANNED' })
  @IsIn(CLIENT_STATUSES)
  status: ClientStatus;

  /** Why (kept with a ban, and in the audit log). */
  @ApiPropertyOptional({ example: 'cheating in ranked matches' })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  reason?: string;
}

export class UserResponseDto {
  clientId: string;

  @ApiProperty({ enum: CLIENT_STATUSES })
  status: ClientStatus;

  @ApiProperty({ enum: CONNECTION_TYPES })
  connectionType: ConnectionType;

  /** Registered through the admin API (portal, editor, device). */
  portalClient: boolean;

  registeredAt: string;

  updatedAt: string;

  bannedAt?: string;

  banReason?: string;

  certificateIds?: string[];

  /** Connected to the broker now (embedded broker only). */
  connected?: boolean;

  lastSeenAt?: string;
}

export class UserListResponseDto {
  users: UserResponseDto[];

  /** Pass as `cursor` to get the next page; absent on the last page. */
  nextCursor?: string;
}

export function toUserResponse({ record, connection }: User): UserResponseDto {
  return {
    clientId: record.clientId,
    status: record.status,
    connectionType: record.connectionType,
    portalClient: record.portalClient,
    registeredAt: record.registeredAt,
    updatedAt: record.updatedAt,
    bannedAt: record.bannedAt,
    banReason: record.banReason,
    certificateIds: record.certificateIds,
    connected: connection?.connected,
    lastSeenAt: connection?.lastSeenAt ?? record.lastSeenAt,
  };
}

export function toUserListResponse(page: UserPage): UserListResponseDto {
  return { users: page.users.map(toUserResponse), nextCursor: page.nextCursor };
}
