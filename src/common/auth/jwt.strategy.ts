import { createSecretKey } from 'node:crypto';
import { Injectable, UnauthorizedException } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { passportJwtSecret } from 'jwks-rsa';
import { ExtractJwt, Strategy, type StrategyOptionsWithoutRequest } from 'passport-jwt';
import { AppConfig } from '../../config/app-config';
import { isClientId } from '../../domain/ids';
import { resolveJwtSecret } from './auth-keys';
import { type ApiCaller, roleFromClaim } from './api-caller';

function claim(payload: Record<string, unknown>, name: string): unknown {
  // Claims such as "cognito:groups" or "https://example.com/roles" are plain keys, not paths.
  return payload[name];
}

@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  private readonly clientIdClaim: string;
  private readonly rolesClaim: string;

  constructor(config: AppConfig) {
    const secret = resolveJwtSecret(config);
    const options: StrategyOptionsWithoutRequest = {
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      ignoreExpiration: false,
      issuer: config.auth.issuer,
      audience: config.auth.audience,
      ...(secret !== undefined
        ? {
            // A KeyObject, not the string: given a string, jsonwebtoken first tries (and fails) to parse it as a
            // PEM public key on every call, which was the single largest cost of a request.
            secretOrKey: createSecretKey(Buffer.from(secret, 'utf8')) as unknown as string,
            algorithms: ['HS256'],
          }
        : {
            secretOrKeyProvider: passportJwtSecret({
              jwksUri: config.auth.jwksUri!,
              cache: true,
              cacheMaxAge: 600_000,
              rateLimit: true,
              jwksRequestsPerMinute: 10,
            }),
            algorithms: ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'PS256'],
          }),
    };
    super(options);
    this.clientIdClaim = config.auth.clientIdClaim;
    this.rolesClaim = config.auth.rolesClaim;
  }

  validate(payload: Record<string, unknown>): ApiCaller {
    const clientId = claim(payload, this.clientIdClaim);
    if (!isClientId(clientId)) {
      throw new UnauthorizedException(`The token's ${this.clientIdClaim} claim is not a valid client id.`);
    }
    return { clientId, role: roleFromClaim(claim(payload, this.rolesClaim)) };
  }
}
