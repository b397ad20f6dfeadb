// The HTTP API as the portal uses it: same origin, bearer token, problem+json errors.

/** A refused request: the problem+json body's `code`, `detail` and per-field `errors`. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = problem?.code ?? 'HTTP_ERROR';
    this.errors = Array.isArray(problem?.errors) ? problem.errors : [];
  }
}

// Relative to the page (/portal/), so a path prefix added by a proxy keeps working.
const API_ROOT = new URL('../v1/', document.baseURI);

export class Api {
  /** @param {() => string | null} getToken */
  constructor(getToken) {
    this.getToken = getToken;
  }

  async request(method, path, body) {
    const headers = { Accept: 'application/json, application/problem+json' };
    const token = this.getToken();
    if (token) {
      headers.Authorization = `Bearer ${token}`;
    }
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
    }
    let response;
    try {
      response = await fetch(new URL(path, API_ROOT), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (error) {
      throw new ApiError(0, { code: 'NETWORK_ERROR', detail: `The service did not answer (${error.message}).` });
    }
    if (response.status === 204) {
      return undefined;
    }
    const text = await response.text();
    let data;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = undefined;
    }
    if (!response.ok) {
      throw new ApiError(response.status, data);
    }
    return data;
  }

  listUsers({ status, limit, cursor } = {}) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries({ status, limit, cursor })) {
      if (value) {
        query.set(key, String(value));
      }
    }
    const qs = query.toString();
    return this.request('GET', `admin/users${qs ? `?${qs}` : ''}`);
  }

  /** `{clients: [{clientId, connected, lastSeenAt?}]}` for up to 100 ids. */
  getPresence(clientIds) {
    const query = new URLSearchParams();
    for (const clientId of clientIds) {
      query.append('clientId', clientId);
    }
    return this.request('GET', `presence?${query.toString()}`);
  }

  getUser(clientId) {
    return this.request('GET', `admin/users/${encodeURIComponent(clientId)}`);
  }

  /** `expiresAt` (ISO-8601, in the future): a ban that ends by itself. */
  setUserStatus(clientId, status, reason, expiresAt) {
    const body = { status };
    if (reason) {
      body.reason = reason;
    }
    if (expiresAt) {
      body.expiresAt = expiresAt;
    }
    return this.request('PATCH', `admin/users/${encodeURIComponent(clientId)}`, body);
  }

  getClientState(clientId) {
    return this.request('GET', `clients/${encodeURIComponent(clientId)}/state`);
  }

  /** `{desired?, reported?, version?}`: merge patches, applied only on top of `version` when given. */
  updateClientState(clientId, change) {
    return this.request('PATCH', `clients/${encodeURIComponent(clientId)}/state`, change);
  }

  listChannels() {
    return this.request('GET', 'admin/channels');
  }

  putChannel(name, definition) {
    return this.request('PUT', `admin/channels/${encodeURIComponent(name)}`, definition);
  }

  deleteChannel(name) {
    return this.request('DELETE', `admin/channels/${encodeURIComponent(name)}`);
  }

  broadcast(channel, message) {
    return this.request('POST', 'messages/broadcast', { channel, message });
  }

  sendDirect(channel, clientId, message) {
    return this.request('POST', 'messages/direct', { channel, clientId, message });
  }

  /** Registers this page as a portal client (the admin's own id): a connection token for the live feed. */
  registerPortalClient() {
    return this.request('POST', 'admin/registrations', { connectionType: 'WEBSOCKET' });
  }

  listSubscriptions() {
    return this.request('GET', 'channels');
  }
}
