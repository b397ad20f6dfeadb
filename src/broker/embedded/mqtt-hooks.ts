import { randomUUID, timingSafeEqual } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { AuthenticateError, Client, ConnectPacket, PublishPacket, Subscription } from 'aedes';
import { ownShadowRequest } from '../../common/shadow-topics';
import { isClientId } from '../../domain/ids';
import type { ClientRepository } from '../../store/client.repository';
import type { ShadowRequestHandler } from '../broker';
import type { BrokerAcl } from './broker-acl';
import { normalSerial } from './certificate-serial';
import type { ConnectionTokens } from './connection-tokens';
import type { Session, SessionCredential, SessionRegistry } from './session-registry';
import type { ClientRecord } from '../../domain/client';
import { errorMessage } from '../../domain/errors';

/** MQTT user name of the service's own internal client. */
export const INTERNAL_USERNAME = 'webcommunicator-internal';
/**
 * Prefixed to the client id of every internal-listener connection. `$` is not
 * allowed in client ids, so no registered client can take over (and so
 * disconnect) an internal session by connecting with the same id.
 */
export const INTERNAL_CLIENT_ID_PREFIX = '$internal:';

/** CONNACK return codes (MQTT 3.1.1 table 3.1). */
const IDENTIFIER_REJECTED = 2;
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

const INTERNAL_CREDENTIAL: SessionCredential = { kind: 'internal' };

export interface MqttHooksOptions {
  clients: ClientRepository;
  acl: BrokerAcl;
  tokens: ConnectionTokens;
  registry: SessionRegistry;
  /** The internal client's password. */
  internalSecret: string;
  maxPayloadBytes: number;
  /** Answers clients' requests on their own shadow topics (the state module); set once the app wires it. */
  shadowRequests: () => ShadowRequestHandler | undefined;
  /** Clients may keep a persistent session (clean session off); when false every session is clean. */
  persistentSessions: boolean;
  /** A subscription refused to a persistent session leaves the session (PersistentSessions.forget). */
  forgetSubscription: (client: Client, topic: string) => void;
}

/**
 * The Aedes hooks: CONNECT authentication, SUBSCRIBE and PUBLISH authorization.
 *
 * - CONNECT: WebSocket clients present a connection token issued to their client id; TLS
 *   clients a certificate whose CN is their client id; internal-listener clients the
 *   per-process secret. Registered clients must exist and not be banned (a store read).
 *   Clients may keep a persistent session (clean session off; bounded and expired by
 *   PersistentSessions); internal sessions, and everyone's when MQTT_SESSION_EXPIRY_SECONDS
 *   is 0, are made clean in preConnect.
 * - SUBSCRIBE: the client's status is read again (one store read per SUBSCRIBE packet),
 *   then BrokerAcl. A null subscription answers SUBACK 0x80 without dropping the client.
 *   Aedes runs this hook again for each subscription of a resumed persistent session; a
 *   refused one is forgotten by the session.
 * - PUBLISH: MQTT 3.1.1 has no negative PUBACK, and Aedes answers an authorizePublish
 *   error by closing the connection (no error reaches the client, MQTT-3.3.5-2). That is
 *   also what AWS IoT does, so clients behave the same on both drivers. Retained flags are
 *   dropped from portal publishes: messages are events with a timestamp, and replaying the
 *   last one to every new subscriber would deliver stale events; it also keeps the retained
 *   store from growing with private topics.
 * - Delivery: the only per-message hook is PersistentSessions.authorizeForward, which
 *   returns at once for clean sessions.
 */
export class MqttHooks {
  private readonly logger = new Logger('EmbeddedBroker');
  /** One store read shared by the topics of a SUBSCRIBE (Aedes authorizes each topic separately). */
  private readonly statusLookups = new Map<string, Promise<ClientRecord | undefined>>();

  constructor(private readonly options: MqttHooksOptions) {}

  readonly preConnect = (client: Client, packet: ConnectPacket, done: (error: Error | null, ok: boolean) => void): void => {
    const connection = this.options.registry.connectionOf(client);
    if (connection === undefined) {
      done(new Error('connection from an unknown listener'), false);
      return;
    }
    if (connection.transport === 'internal' || !this.options.persistentSessions) {
      packet.clean = true;
    }
    if (connection.transport === 'internal') {
      packet.clientId = `${INTERNAL_CLIENT_ID_PREFIX}${packet.clientId || randomUUID()}`;
    }
    done(null, true);
  };

  readonly authenticate = (
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, ok: boolean | null) => void,
  ): void => {
    const { registry, tokens, clients } = this.options;
    const connection = registry.connectionOf(client);
    const clientId = client.id;
    const refuse = (code: number, reason: string): void => {
      this.logger.debug(`refused MQTT client ${clientId} (${connection?.transport ?? '?'}): ${reason}`);
      const error = new Error(reason) as AuthenticateError;
      error.returnCode = code;
      done(error, false);
    };
    if (connection === undefined) {
      refuse(NOT_AUTHORIZED, 'unknown listener');
      return;
    }
    const transport = connection.transport;
    if (transport === 'internal') {
      if (username !== INTERNAL_USERNAME || !sameSecret(password, this.options.internalSecret)) {
        refuse(BAD_USERNAME_OR_PASSWORD, 'bad internal credentials');
        return;
      }
      registry.open(connection, { clientId, transport, credential: INTERNAL_CREDENTIAL, portal: false });
      done(null, true);
      return;
    }
    if (!isClientId(clientId)) {
      refuse(IDENTIFIER_REJECTED, 'invalid client id');
      return;
    }
    let credential: SessionCredential;
    if (transport === 'websocket') {
      const claims = tokens.verify(password?.toString('utf8'), clientId);
      if (claims === undefined) {
        refuse(BAD_USERNAME_OR_PASSWORD, 'invalid connection token');
        return;
      }
      credential = { kind: 'token', claims };
    } else {
      if (connection.peer?.commonName !== clientId) {
        refuse(NOT_AUTHORIZED, 'certificate CN does not match the client id');
        return;
      }
      credential = { kind: 'certificate', serialNumber: connection.peer.serialNumber ?? '' };
    }
    const pending = registry.beginAuthentication(clientId);
    clients.get(clientId).then(
      (record) => {
        registry.endAuthentication(pending);
        if (record === undefined) {
          refuse(NOT_AUTHORIZED, 'not registered');
        } else if (record.status !== 'REGISTERED' || pending.refused) {
          refuse(NOT_AUTHORIZED, 'banned');
        } else if (!client.closed && !connection.isClosed) {
          if (credential.kind === 'certificate' && !liveCertificate(record, credential.serialNumber)) {
            refuse(NOT_AUTHORIZED, 'certificate revoked or unknown');
            return;
          }
          // Portal rights belong to the credential of a portal registration (a claim in its token), never to a
          // device certificate or a plain client's token, and only while the record still says portal.
          const portal = record.portalClient && credential.kind === 'token' && credential.claims.portal;
          registry.open(connection, { clientId, transport, credential, portal });
          done(null, true);
        }
      },
      (error: unknown) => {
        registry.endAuthentication(pending);
        this.logger.warn(`MQTT CONNECT of ${clientId}: client registry unavailable: ${errorMessage(error)}`);
        refuse(SERVER_UNAVAILABLE, 'client registry unavailable');
      },
    );
  };

  readonly authorizeSubscribe = (
    client: Client,
    subscription: Subscription,
    done: (error: Error | null, subscription?: Subscription | null) => void,
  ): void => {
    const session = this.options.registry.sessionOf(client);
    if (session === undefined) {
      done(null, null);
      return;
    }
    this.maySubscribe(session, subscription.topic).then(
      (allowed) => {
        if (!allowed) {
          this.logger.debug(`refused subscription of ${session.clientId} to ${subscription.topic}`);
          this.options.forgetSubscription(client, subscription.topic);
        }
        // A null subscription is Aedes' way to answer SUBACK 0x80 without dropping the client.
        done(null, allowed && !client.closed ? subscription : null);
      },
      (error: unknown) => {
        this.logger.warn(`SUBSCRIBE of ${session.clientId}: ${errorMessage(error)}`);
        done(null, null);
      },
    );
  };

  readonly authorizePublish = (client: Client | null, packet: PublishPacket, done: (error?: Error | null) => void): void => {
    const session = client === null ? undefined : this.options.registry.sessionOf(client);
    // A closed client here is publishing its will message (or a revoked one its last words): no need to shout.
    const deny = (reason = 'not allowed'): void => done(this.publishDenied(session, packet.topic, reason, client?.closed !== false));
    if (session === undefined) {
      deny();
      return;
    }
    if (packet.payload.length > this.options.maxPayloadBytes) {
      deny('payload too large');
      return;
    }
    this.options.acl.mayPublish(session, packet.topic).then(
      (allowed) => {
        if (!allowed) {
          deny();
          return;
        }
        packet.retain = false;
        if (session.transport !== 'internal') {
          const kind = ownShadowRequest(packet.topic, session.clientId);
          if (kind !== undefined) {
            // Answered on the shadow's response topics, like AWS IoT; the request itself is routed as any
            // message (AWS delivers it to subscribers of the request topic too).
            const handler = this.options.shadowRequests();
            if (handler === undefined) {
              deny('state documents are not served');
              return;
            }
            handler({ clientId: session.clientId, kind, payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload });
          }
        }
        done(null);
      },
      (error: unknown) => deny(errorMessage(error)),
    );
  };

  private publishDenied(session: Session | undefined, topic: string, reason: string, quiet: boolean): Error {
    const message = `refused PUBLISH of ${session?.clientId ?? 'unknown client'} to ${topic} (${reason})`;
    if (quiet) {
      this.logger.debug(message);
    } else {
      this.logger.warn(`${message}; the connection is closed`);
    }
    return new Error(`publish to ${topic} refused: ${reason}`);
  }

  private async maySubscribe(session: Session, filter: string): Promise<boolean> {
    if (session.transport !== 'internal') {
      const record = await this.currentRecord(session.clientId);
      if (record?.status !== 'REGISTERED') {
        return false;
      }
    }
    return this.options.acl.maySubscribe(session, filter);
  }

  private currentRecord(clientId: string): Promise<ClientRecord | undefined> {
    let lookup = this.statusLookups.get(clientId);
    if (lookup === undefined) {
      lookup = this.options.clients.get(clientId).finally(() => this.statusLookups.delete(clientId));
      this.statusLookups.set(clientId, lookup);
    }
    return lookup;
  }
}

function sameSecret(given: Buffer | undefined, secret: string): boolean {
  const expected = Buffer.from(secret, 'utf8');
  return given !== undefined && given.length === expected.length && timingSafeEqual(given, expected);
}

/** The TLS peer's certificate is one of the client's live (not revoked) certificates. */
function liveCertificate(record: ClientRecord, serialNumber: string): boolean {
  const serial = normalSerial(serialNumber);
  return serial !== '' && (record.certificateIds ?? []).some((id) => normalSerial(id) === serial);
}
