import { ApiProperty, ApiPropertyOptional, ApiSchema } from '@nestjs/swagger';
import { IsInt, IsObject, IsOptional, Min } from 'class-validator';
import type { JsonObject } from './state-document';
import type { ClientStateView } from './state.service';

/** A change to a state document: JSON merge patches (RFC 7386, `null` removes a key) of either section. */
@ApiSchema({ name: 'UpdateClientStateRequest' })
export class UpdateStateRequestDto {
  /** Merged into `desired`. Services and admins only (403 for a client). */
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, example: { loadout: 'sniper', volume: 7 } })
  @IsOptional()
  @IsObject()
  desired?: JsonObject;

  /** Merged into `reported`. */
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, example: { volume: 7 } })
  @IsOptional()
  @IsObject()
  reported?: JsonObject;

  /** Apply only if this is the current version (409 VERSION_CONFLICT otherwise); 0 for a document that doesn't exist yet. */
  @ApiPropertyOptional({ example: 3 })
  @IsOptional()
  @IsInt()
  @Min(0)
  version?: number;
}

@ApiSchema({ name: 'ClientStateSections' })
export class StateSectionsDto {
  /** What services and admins want the client to apply. */
  @ApiProperty({ type: 'object', additionalProperties: true })
  desired: JsonObject;

  /** What the client reports it has applied. */
  @ApiProperty({ type: 'object', additionalProperties: true })
  reported: JsonObject;

  /** Keys of `desired` whose values differ from `reported` (nested objects compared key by key, arrays as whole values); absent when none. */
  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  delta?: JsonObject;
}

@ApiSchema({ name: 'ClientState' })
export class ClientStateResponseDto {
  clientId: string;

  state: StateSectionsDto;

  /** 0 while the client has no document; +1 per change. */
  @ApiProperty({ example: 4 })
  version: number;

  /** When the document last changed (absent at version 0). */
  updatedAt?: string;
}

export function toClientStateResponse(view: ClientStateView): ClientStateResponseDto {
  const state: StateSectionsDto = { desired: view.desired, reported: view.reported };
  if (view.delta !== undefined) {
    state.delta = view.delta;
  }
  return { clientId: view.clientId, state, version: view.version, updatedAt: view.updatedAt };
}
