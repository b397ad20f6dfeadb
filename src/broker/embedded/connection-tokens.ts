import { createSecretKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';

/**
 * Audience of MQTT connection tokens. API tokens never carry it and connection
 * tokens are signed with their own key (`${DATA_DIR}/broker-token.secret`), so
 * neither kind of token is accepted where the other is expected.
 */
export const CONNECTION_TOKEN_AUDIENCE = 'webcommunicator-mqtt';
const ISSUER = 'webcommunicator-embedded-broker';
/** Anything longer is not one of ours; refuse it before spending a signature check. */
const MAX_TOKEN_LENGTH = 2048;

/** What a verified connection token says (JWT claims). */
export interface ConnectionTokenClaims {
  /** The client id the token was issued to. */
  sub: string;
  /** Issued at, seconds since the epoch. */
  iat: number;
  /** Expires at, seconds since the epoch. */
  exp: number;
}

export interface ConnectionToken {
  token: string;
  /** ISO-8601. */
  expiresAt: string;
}

/**
 * HS256 connection tokens for MQTT over WebSocket: the MQTT password, bound to
 * one client id (`sub`). Checked only at CONNECT: a session outlives its token,
 * as sessions do on AWS IoT; a ban ends it instead (`revoke`).
 */
export class ConnectionTokens {
  /**
   * A KeyObject, not the string: given a string, jsonwebtoken first tries to parse it as a PEM
   * private (sign) or public (verify) key and catches the failure, on every call; that was
   * 8 % of the service's CPU in the registration benchmark and runs at every CONNECT.
   */
  private readonly secret: KeyObject;

  constructor(
    secret: string,
    private readonly ttlSeconds: number,
  ) {
    this.secret = createSecretKey(Buffer.from(secret, 'utf8'));
  }

  issue(clientId: string): ConnectionToken {
    const issuedAt = Math.floor(Date.now() / 1000);
    const expiresAt = issuedAt + this.ttlSeconds;
    const token = jwt.sign({ iat: issuedAt, exp: expiresAt }, this.secret, {
      algorithm: 'HS256',
      subject: clientId,
      audience: CONNECTION_TOKEN_AUDIENCE,
      issuer: ISSUER,
    });
    return { token, expiresAt: new Date(expiresAt * 1000).toISOString() };
  }

  /** The token's claims when it is ours, unexpired and issued to exactly this client id; undefined otherwise. */
  verify(token: string | undefined, clientId: string): ConnectionTokenClaims | undefined {
    if (token === undefined || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      return undefined;
    }
    try {
      const claims = jwt.verify(token, this.secret, { algorithms: ['HS256'], audience: CONNECTION_TOKEN_AUDIENCE, issuer: ISSUER, subject: clientId });
      return typeof claims === 'object' ? { sub: clientId, iat: Number(claims.iat), exp: Number(claims.exp) } : undefined;
    } catch {
      return undefined;
    }
  }
}
