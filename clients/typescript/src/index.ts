/**
 * @web-communicator/client: a typed client for the Web Communicator HTTP API.
 *
 * The types (`./schema`) are generated from the service's committed
 * openapi/openapi.json by openapi-typescript (`npm run sdk`); the runtime is
 * openapi-fetch, a thin typed wrapper over `fetch`. Every call returns
 * `{ data, error, response }`: `data` on 2xx, else `error`, the
 * application/problem+json body with its stable `code`.
 *
 *   const api = createWebCommunicatorClient('http://localhost:3000', token);
 *   const { data, error } = await api.POST('/v1/messages/broadcast', { body: { channel: 'news', message: 'hi' } });
 *   if (error) console.error(error.code, error.detail);
 */
import createClient, { type Client, type ClientOptions, type Middleware } from 'openapi-fetch';
import type { components, operations, paths } from './schema';

export type { components, operations, paths };

type Schemas = components['schemas'];

/** Broker credentials from POST /v1/registrations and /v1/admin/registrations. */
export type Registration = Schemas['Registration'];
export type RegisterClientRequest = Schemas['RegisterClientRequest'];
export type RegisterPortalClientRequest = Schemas['RegisterPortalClientRequest'];
/** A topic to subscribe to, resolved for the caller. */
export type Subscription = Schemas['Subscription'];
export type Channel = Schemas['Channel'];
/** The body of PUT /v1/admin/channels/{channel}. */
export type ChannelDefinition = Schemas['PutChannelRequest'];
export type User = Schemas['User'];
export type UserPage = Schemas['UserList'];
export type SetUserStatusRequest = Schemas['SetUserStatusRequest'];
export type PublishResult = Schemas['PublishResult'];
export type BroadcastRequest = Schemas['BroadcastRequest'];
export type SendDirectRequest = Schemas['SendDirectRequest'];
export type SendClientMessageRequest = Schemas['SendClientMessageRequest'];
export type ServiceStatus = Schemas['Status'];
/** A client's state document (AWS IoT classic shadow semantics): GET/PATCH /v1/state, /v1/clients/{clientId}/state. */
export type ClientState = Schemas['ClientState'];
/** The body of PATCH /v1/state and /v1/clients/{clientId}/state: merge patches of `desired`/`reported`, and the version they apply to. */
export type UpdateClientStateRequest = Schemas['UpdateClientStateRequest'];
/** GET /v1/presence (getPresence): whether clients are connected now, and when they were last seen. */
export type Presence = Schemas['Presence'];
export type ClientPresence = Schemas['ClientPresence'];
/** RFC 9457 problem details; switch on `code`. */
export type Problem = Schemas['Problem'];
export type ProblemCode = Problem['code'];

export type WebCommunicatorClient = Client<paths>;

/** A bearer token, or a function that returns a fresh one for each request (e.g. from your identity provider). */
export type TokenSource = string | (() => string | undefined | Promise<string | undefined>);

/**
 * A client for the service at `baseUrl` (e.g. `http://localhost:3000`),
 * sending `Authorization: Bearer <token>` when a token is given.
 */
export function createWebCommunicatorClient(
  baseUrl: string,
  token?: TokenSource,
  options: Omit<ClientOptions, 'baseUrl'> = {},
): WebCommunicatorClient {
  const client = createClient<paths>({ ...options, baseUrl: baseUrl.replace(/\/+$/, '') });
  if (token !== undefined) {
    const auth: Middleware = {
      async onRequest({ request }) {
        const value = typeof token === 'function' ? await token() : token;
        if (value) {
          request.headers.set('Authorization', `Bearer ${value}`);
        }
        return request;
      },
    };
    client.use(auth);
  }
  return client;
}

/** A refused call, thrown by `unwrap`: the HTTP status and the problem's `code`, `detail` and field `errors`. */
export class WebCommunicatorError extends Error {
  readonly status: number;
  readonly code: ProblemCode | 'HTTP_ERROR';
  readonly problem?: Problem;

  constructor(response: Response, problem: unknown) {
    const body = isProblem(problem) ? problem : undefined;
    super(body ? `${body.code}: ${body.detail}` : `HTTP ${response.status}`);
    this.name = 'WebCommunicatorError';
    this.status = response.status;
    this.code = body?.code ?? 'HTTP_ERROR';
    this.problem = body;
  }
}

export function isProblem(value: unknown): value is Problem {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { code?: unknown }).code === 'string' &&
    typeof (value as { status?: unknown }).status === 'number'
  );
}

/**
 * For code that prefers exceptions: resolves to `data`, or throws a
 * WebCommunicatorError carrying the problem's `code`.
 *
 *   const reg = await unwrap(api.POST('/v1/registrations', { body: { connectionType: 'WEBSOCKET' } }));
 */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) {
    throw new WebCommunicatorError(response, error);
  }
  return data as T;
}
