import { type ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard as PassportAuthGuard } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import { PUBLIC_KEY, ROLES_KEY } from './auth.decorators';
import type { ApiCaller, Role } from './api-caller';
import { bearerToken, verifiedExpiry, VerifiedTokens } from './verified-tokens';
import { ForbiddenError } from '../../domain/errors';

/**
 * Global guard: a valid bearer JWT on every route not marked @Public, then the @Roles check.
 * passport-jwt verifies every token the first time it is seen; a token verified before
 * (and not expired) is taken from VerifiedTokens instead.
 */
@Injectable()
export class AuthGuard extends PassportAuthGuard('jwt') {
  private readonly verified = new VerifiedTokens();

  constructor(private readonly reflector: Reflector) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (context.getType() !== 'http' || this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) {
      return true;
    }
    const request = context.switchToHttp().getRequest<FastifyRequest & { user: ApiCaller }>();
    const token = bearerToken(request.headers.authorization);
    const known = token === undefined ? undefined : this.verified.get(token);
    if (known !== undefined) {
      request.user = known;
    } else {
      await (super.canActivate(context) as Promise<boolean>);
      if (token !== undefined) {
        this.verified.set(token, request.user, verifiedExpiry(token));
      }
    }
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, targets);
    const caller = request.user;
    if (roles !== undefined && !roles.includes(caller.role)) {
      throw new ForbiddenError(`This operation needs the ${roles.join(' or ')} role.`);
    }
    return true;
  }

  override handleRequest<T = ApiCaller>(error: unknown, user: T | false, info: unknown): T {
    if (error || !user) {
      const reason = info instanceof Error ? info.message : 'missing or invalid bearer token';
      throw error instanceof UnauthorizedException ? error : new UnauthorizedException(`Authentication failed: ${reason}.`);
    }
    return user;
  }
}
