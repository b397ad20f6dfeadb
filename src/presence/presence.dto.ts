import { ApiProperty, ApiSchema } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsString, Matches } from 'class-validator';
import type { ClientPresence } from '../store/client.repository';

export const MAX_PRESENCE_IDS = 100;

export class GetPresenceQueryDto {
  /** Client ids to look up: `?clientId=a&clientId=b`, 1 to 100 of them. */
  @ApiProperty({ type: [String], minItems: 1, maxItems: MAX_PRESENCE_IDS, example: ['player-1', 'player-2'] })
  @Transform(({ value }: { value: unknown }) => (Array.isArray(value) ? value : value === undefined ? undefined : [value]))
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_PRESENCE_IDS)
  @IsString({ each: true })
  @Matches(/^[A-Za-z0-9:._-]{1,128}$/, { each: true, message: 'each clientId must match ^[A-Za-z0-9:._-]{1,128}$' })
  clientId: string[];
}

@ApiSchema({ name: 'ClientPresence' })
export class ClientPresenceResponseDto {
  clientId: string;

  /** Has a live session now (false for a client nobody registered). */
  connected: boolean;

  /** When the client last connected or disconnected. */
  lastSeenAt?: string;
}

@ApiSchema({ name: 'Presence' })
export class PresenceResponseDto {
  /** One entry per requested id, in the order asked. */
  clients: ClientPresenceResponseDto[];
}

export function toPresenceResponse(clients: ClientPresence[]): PresenceResponseDto {
  return { clients: clients.map(({ clientId, connected, lastSeenAt }) => (lastSeenAt === undefined ? { clientId, connected } : { clientId, connected, lastSeenAt })) };
}
