import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayNotEmpty,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  Matches,
  Max,
  Min,
  ValidateNested,
  type ValidationArguments,
  ValidatorConstraint,
  type ValidatorConstraintInterface,
  Validate,
} from 'class-validator';
import { CHANNEL_NAME_PATTERN } from '../domain/ids';
import { CHANNEL_TYPES, type ChannelDefinition, type ChannelType } from '../domain/channel';
import { messageSchemaProblems } from './message-schemas';

/**
 * A message schema that compiles (a JSON Schema ajv accepts, within the size limits, with RE2 patterns).
 * Checked with the other fields, so a 400 lists a bad schema together with every other invalid field.
 * A value that isn't an object is left to IsObject.
 */
@ValidatorConstraint({ name: 'isMessageSchema' })
class IsMessageSchema implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return !isPlainObject(value) || messageSchemaProblems(value).length === 0;
  }

  defaultMessage(args: ValidationArguments): string {
    const problems = isPlainObject(args.value) ? messageSchemaProblems(args.value) : [];
    return problems.map((p) => p.message).join('; ') || 'is not a usable JSON Schema';
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export const DEFAULT_MAX_MESSAGE_BYTES = 1024;
export const MAX_MESSAGE_BYTES_LIMIT = 131_072;

export class RateLimitDto {
  /** Messages allowed per client in each window. */
  @ApiProperty({ example: 5 })
  @IsInt()
  @Min(1)
  @Max(100_000)
  messages: number;

  /** Window length in seconds. */
  @ApiProperty({ example: 10 })
  @IsInt()
  @Min(1)
  @Max(86_400)
  perSeconds: number;
}

/** A channel definition, as put by admins and as listed in the channels file. */
export class PutChannelRequestDto {
  /** Optional; when present it must equal the channel name in the path. */
  @ApiPropertyOptional({ example: 'patches' })
  @IsOptional()
  @Matches(CHANNEL_NAME_PATTERN)
  name?: string;

  /** How messages are delivered: to everyone (BROADCAST) and/or to one client (PRIVATE). */
  @ApiProperty({ enum: CHANNEL_TYPES, isArray: true, example: ['BROADCAST', 'PRIVATE'] })
  @IsArray()
  @ArrayNotEmpty()
  @ArrayUnique()
  @IsIn(CHANNEL_TYPES, { each: true })
  types: ChannelType[];

  /** Deliver this channel's messages on another channel's topics (no chains; its types must be a subset of the target's). */
  @ApiPropertyOptional({ example: 'CloudGemWebCommunicator' })
  @IsOptional()
  @Matches(CHANNEL_NAME_PATTERN)
  communicationChannel?: string;

  /** Whether plain clients may send to this channel through the API. Default false. */
  @ApiPropertyOptional({ example: false })
  @IsOptional()
  @IsBoolean()
  clientSend?: boolean;

  /** Largest client-sent message, in bytes (UTF-8). Default 1024. */
  @ApiPropertyOptional({ example: 1024 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_MESSAGE_BYTES_LIMIT)
  maxMessageBytes?: number;

  /** JSON Schema (draft 2020-12 subset supported by ajv) that every message, parsed as JSON, must satisfy. */
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    example: { type: 'object', required: ['pak'], properties: { pak: { type: 'string' } } },
  })
  @IsOptional()
  @IsObject()
  @Validate(IsMessageSchema)
  messageSchema?: Record<string, unknown>;

  /** Per-client limit on client sends. */
  @ApiPropertyOptional({ type: () => RateLimitDto, example: { messages: 5, perSeconds: 10 } })
  @IsOptional()
  @ValidateNested()
  @Type(() => RateLimitDto)
  rateLimit?: RateLimitDto;
}

export class ChannelResponseDto {
  @ApiProperty({ example: 'CloudGemWebCommunicator' })
  name: string;

  @ApiProperty({ enum: CHANNEL_TYPES, isArray: true })
  types: ChannelType[];

  communicationChannel?: string;

  clientSend: boolean;

  maxMessageBytes: number;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  messageSchema?: Record<string, unknown>;

  rateLimit?: RateLimitDto;
}

export class ChannelListResponseDto {
  channels: ChannelResponseDto[];
}

export class SubscriptionResponseDto {
  channel: string;

  @ApiProperty({ enum: CHANNEL_TYPES })
  type: ChannelType;

  /** The MQTT topic to subscribe to (the caller's own private topic for PRIVATE). */
  topic: string;
}

export class SubscriptionListResponseDto {
  subscriptions: SubscriptionResponseDto[];
}

export function toChannelResponse(channel: ChannelDefinition): ChannelResponseDto {
  return {
    name: channel.name,
    types: channel.types,
    communicationChannel: channel.communicationChannel,
    clientSend: channel.clientSend,
    maxMessageBytes: channel.maxMessageBytes,
    messageSchema: channel.messageSchema,
    rateLimit: channel.rateLimit,
  };
}
