import 'reflect-metadata';
import type { ArgumentMetadata } from '@nestjs/common';
import { IsBoolean, IsOptional, IsString, Matches } from 'class-validator';
import { BroadcastRequestDto, SendClientMessageRequestDto, SendDirectRequestDto } from '../../publishing/publishing.dto';
import { RegisterClientRequestDto, RegisterPortalClientRequestDto } from '../../registration/registration.dto';
import { UpdateStateRequestDto } from '../../state/state.dto';
import { ListChannelMessagesQueryDto } from '../../history/history.dto';
import { GetPresenceQueryDto } from '../../presence/presence.dto';
import { ListUsersQueryDto } from '../../users/user.dto';
import { DomainError } from '../../domain/errors';
import { httpStatusOf } from './to-problem';
import { CompiledValidationPipe, createClassValidatorPipe, schemaFromClassValidator } from './validation';

class WithUnsupported {
  @IsBoolean()
  flag: boolean;
}

class WithFlags {
  @Matches(/^a+$/i)
  name: string;
}

class Optional {
  @IsOptional()
  @IsString()
  note?: string;
}

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
type Target = Function;

const argument = (metatype: Target, type: 'body' | 'query' = 'body'): ArgumentMetadata => ({ type, metatype: metatype as ArgumentMetadata['metatype'] });

async function outcome(
  pipe: { transform(value: unknown, metadata: ArgumentMetadata): unknown },
  value: unknown,
  metatype: Target,
  type: 'body' | 'query' = 'body',
): Promise<unknown> {
  try {
    const result = await pipe.transform(value, argument(metatype, type));
    return { ok: true, instance: (result as object).constructor.name, value: { ...(result as object) } };
  } catch (error) {
    return { ok: false, response: error instanceof DomainError ? { status: httpStatusOf(error), code: error.code, errors: error.errors } : String(error) };
  }
}

describe('CompiledValidationPipe', () => {
  const compiled = new CompiledValidationPipe();
  const reflective = createClassValidatorPipe();

  it('translates the hot-path DTOs and leaves the others to class-validator', () => {
    for (const dto of [BroadcastRequestDto, SendClientMessageRequestDto, SendDirectRequestDto, RegisterClientRequestDto, RegisterPortalClientRequestDto, UpdateStateRequestDto, Optional]) {
      expect(schemaFromClassValidator(dto)).toBeDefined();
    }
    expect(schemaFromClassValidator(WithUnsupported)).toBeUndefined();
    expect(schemaFromClassValidator(WithFlags)).toBeUndefined();
    expect(schemaFromClassValidator(class Plain {})).toBeUndefined();
  });

  it.each<[string, Target, unknown]>([
    ['valid broadcast', BroadcastRequestDto, { channel: 'news', message: 'hi' }],
    ['bad channel', BroadcastRequestDto, { channel: 'a/b', message: 'hi' }],
    ['unknown field', BroadcastRequestDto, { channel: 'news', message: 'hi', extra: 1 }],
    ['missing field', BroadcastRequestDto, { channel: 'news' }],
    ['wrong type', SendClientMessageRequestDto, { message: 42 }],
    ['array body', SendClientMessageRequestDto, [{ message: 'x' }]],
    ['string body', SendClientMessageRequestDto, 'x'],
    ['valid direct', SendDirectRequestDto, { channel: 'news', clientId: 'eu-west-1:abc.def_1', message: '' }],
    ['bad client id', SendDirectRequestDto, { channel: 'news', clientId: 'a b', message: 'x' }],
    ['valid registration', RegisterClientRequestDto, { connectionType: 'OPENSSL' }],
    ['unknown connection type', RegisterClientRequestDto, { connectionType: 'CARRIER_PIGEON' }],
    ['inherited field refused', RegisterClientRequestDto, { connectionType: 'WEBSOCKET', clientId: 'x' }],
    ['portal with id', RegisterPortalClientRequestDto, { connectionType: 'WEBSOCKET', clientId: 'kiosk-1' }],
    ['portal with null id', RegisterPortalClientRequestDto, { connectionType: 'WEBSOCKET', clientId: null }],
    ['portal with bad id', RegisterPortalClientRequestDto, { connectionType: 'WEBSOCKET', clientId: 'a/b' }],
    ['optional absent', Optional, {}],
    ['optional wrong', Optional, { note: 1 }],
    ['state: desired and version', UpdateStateRequestDto, { desired: { loadout: 'kit', audio: { volume: 3 } }, version: 4 }],
    ['state: reported only', UpdateStateRequestDto, { reported: { a: [1, 2] } }],
    ['state: empty body', UpdateStateRequestDto, {}],
    ['state: null sections', UpdateStateRequestDto, { desired: null, reported: null }],
    ['state: desired an array', UpdateStateRequestDto, { desired: [1] }],
    ['state: reported a string', UpdateStateRequestDto, { reported: 'x' }],
    ['state: version a string', UpdateStateRequestDto, { desired: {}, version: '3' }],
    ['state: version negative', UpdateStateRequestDto, { desired: {}, version: -1 }],
    ['state: version fractional', UpdateStateRequestDto, { desired: {}, version: 1.5 }],
    ['state: version zero', UpdateStateRequestDto, { desired: {}, version: 0 }],
    ['state: unknown field', UpdateStateRequestDto, { desired: {}, state: {} }],
    ['unsupported DTO', WithUnsupported, { flag: 'yes' }],
  ])('%s: same outcome as class-validator', async (_name, metatype, value) => {
    expect(await outcome(compiled, value, metatype)).toEqual(await outcome(reflective, value, metatype));
  });

  it.each<[string, Target, Record<string, unknown>]>([
    ['history: none', ListChannelMessagesQueryDto, {}],
    ['history: after and limit', ListChannelMessagesQueryDto, { after: '41', limit: '100' }],
    ['history: clientId', ListChannelMessagesQueryDto, { clientId: 'eu-west-1:abc', after: '0' }],
    ['history: after negative', ListChannelMessagesQueryDto, { after: '-1' }],
    ['history: after fractional', ListChannelMessagesQueryDto, { after: '1.5' }],
    ['history: after empty', ListChannelMessagesQueryDto, { after: '' }],
    ['history: after hex', ListChannelMessagesQueryDto, { after: '0x10' }],
    ['history: after not a number', ListChannelMessagesQueryDto, { after: 'abc' }],
    ['history: limit 0', ListChannelMessagesQueryDto, { limit: '0' }],
    ['history: limit too large', ListChannelMessagesQueryDto, { limit: '1001' }],
    ['history: bad clientId', ListChannelMessagesQueryDto, { clientId: 'a b' }],
    ['history: unknown parameter', ListChannelMessagesQueryDto, { after: '1', page: '2' }],
    ['history: repeated parameter', ListChannelMessagesQueryDto, { after: ['1', '2'] }],
    ['users: a page', ListUsersQueryDto, { status: 'BANNED', limit: '25' }],
    ['users: limit too large', ListUsersQueryDto, { limit: '101' }],
    ['presence: one id', GetPresenceQueryDto, { clientId: 'a' }],
    ['presence: two ids', GetPresenceQueryDto, { clientId: ['a', 'b'] }],
  ])('query %s: same outcome as class-validator', async (_name, metatype, value) => {
    expect(await outcome(compiled, value, metatype, 'query')).toEqual(await outcome(reflective, value, metatype, 'query'));
  });

  it('checks the history query without class-validator, and leaves DTOs that class-transformer does more for to it', () => {
    const fallback = jest.spyOn((compiled as unknown as { fallback: { transform: () => unknown } }).fallback, 'transform');
    compiled.transform({ after: '41', limit: '100' }, argument(ListChannelMessagesQueryDto, 'query'));
    expect(fallback).not.toHaveBeenCalled();
    void compiled.transform({ clientId: 'a' }, argument(GetPresenceQueryDto, 'query'));
    expect(fallback).toHaveBeenCalledTimes(1);
  });
});
