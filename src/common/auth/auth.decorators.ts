import { createParamDecorator, type ExecutionContext, SetMetadata } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { ApiCaller, Role } from './api-caller';

export const PUBLIC_KEY = 'webcommunicator:public';
export const ROLES_KEY = 'webcommunicator:roles';

/** No authentication (status, health, metrics, docs). */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC_KEY, true);

/** Roles allowed; an authenticated route without it accepts any role. */
export const Roles = (...roles: Role[]): MethodDecorator & ClassDecorator => SetMetadata(ROLES_KEY, roles);

/** The authenticated caller. */
export const Caller = createParamDecorator((_: unknown, context: ExecutionContext): ApiCaller => {
  return context.switchToHttp().getRequest<FastifyRequest & { user: ApiCaller }>().user;
});
