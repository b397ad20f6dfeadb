/*
 * A stateful HTTP double of AWS IoT's control plane for policies (versions kept as IoT keeps them:
 * at most five, one default, VersionsLimitExceeded beyond, the default can't be deleted), plus the
 * data plane's Publish recorded. The real SDK clients send their signed requests here
 * (AWS_ENDPOINT_URL_IOT / _IOT_DATA_PLANE, or an `endpoint` override). Every other call answers
 * 200 `{}`. `latencyMs` delays each answer by a random 0..latencyMs, so that concurrent callers
 * interleave the way they do against the real service.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface IotPolicyVersion {
  versionId: string;
  document: string;
  isDefault: boolean;
  createdAt: number;
}

export interface IotCall {
  method: string;
  path: string;
  query: URLSearchParams;
  body: string;
}

const MAX_VERSIONS = 5;

export class IotDouble {
  readonly policies = new Map<string, { versions: IotPolicyVersion[]; nextVersion: number }>();
  readonly calls: IotCall[] = [];
  /** Publish calls: decoded topic and payload text. */
  readonly published: Array<{ topic: string; payload: string }> = [];
  latencyMs = 0;
  private clock = 0;

  private constructor(private readonly server: Server) {}

  static async start(): Promise<IotDouble> {
    const server = createServer();
    const double = new IotDouble(server);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const delay = Math.random() * double.latencyMs;
        setTimeout(() => double.answer(req, Buffer.concat(chunks).toString('utf8'), res), delay);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return double;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The default version's document of a policy (undefined when there is no such policy). */
  defaultDocument(policyName: string): string | undefined {
    return this.policies.get(policyName)?.versions.find((v) => v.isDefault)?.document;
  }

  versions(policyName: string): IotPolicyVersion[] {
    return [...(this.policies.get(policyName)?.versions ?? [])];
  }

  /** Seeds a policy with versions (the last one default), as an older deployment left it. */
  seed(policyName: string, documents: string[]): void {
    const versions = documents.map((document, i) => ({
      versionId: String(i + 1),
      document,
      isDefault: i === documents.length - 1,
      createdAt: ++this.clock,
    }));
    this.policies.set(policyName, { versions, nextVersion: documents.length + 1 });
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private answer(req: IncomingMessage, body: string, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://double');
    const path = decodeURIComponent(url.pathname);
    const method = req.method ?? '';
    this.calls.push({ method, path, query: url.searchParams, body });
    const reply = (status: number, payload: unknown, errorType?: string): void => {
      res.writeHead(status, { 'content-type': 'application/json', ...(errorType ? { 'x-amzn-errortype': errorType } : {}) });
      res.end(JSON.stringify(payload));
    };
    if (method === 'GET' && path === '/endpoint') {
      return reply(200, { endpointAddress: 'double-ats.iot.eu-west-1.amazonaws.com' });
    }
    const topic = /^\/topics\/(.+)$/.exec(path);
    if (topic && method === 'POST') {
      this.published.push({ topic: topic[1], payload: body });
      return reply(200, {});
    }
    const policy = /^\/policies\/([^/]+)(\/version(?:\/([^/]+))?)?$/.exec(path);
    if (policy === null) {
      return reply(200, {});
    }
    const [, name, versionPath, versionId] = policy;
    const entry = this.policies.get(name);
    const notFound = (): void => reply(404, { message: `policy ${name} not found` }, 'ResourceNotFoundException');
    const document = (): string => (JSON.parse(body) as { policyDocument: string }).policyDocument;
    if (versionPath === undefined) {
      if (method === 'GET') {
        const current = entry?.versions.find((v) => v.isDefault);
        return current === undefined || entry === undefined
          ? notFound()
          : reply(200, { policyName: name, policyDocument: current.document, defaultVersionId: current.versionId });
      }
      if (method === 'POST') {
        if (entry !== undefined) {
          return reply(409, { message: 'exists', resourceId: name, resourceArn: name }, 'ResourceAlreadyExistsException');
        }
        this.policies.set(name, { versions: [{ versionId: '1', document: document(), isDefault: true, createdAt: ++this.clock }], nextVersion: 2 });
        return reply(200, { policyName: name, policyVersionId: '1' });
      }
    }
    if (entry === undefined) {
      return notFound();
    }
    if (versionId === undefined && method === 'GET') {
      return reply(200, {
        policyVersions: entry.versions.map((v) => ({ versionId: v.versionId, isDefaultVersion: v.isDefault, createDate: v.createdAt })),
      });
    }
    if (versionId === undefined && method === 'POST') {
      if (entry.versions.length >= MAX_VERSIONS) {
        return reply(409, { message: 'The policy already has 5 versions' }, 'VersionsLimitExceededException');
      }
      const created: IotPolicyVersion = { versionId: String(entry.nextVersion++), document: document(), isDefault: false, createdAt: ++this.clock };
      if (url.searchParams.get('setAsDefault') === 'true') {
        entry.versions.forEach((v) => (v.isDefault = false));
        created.isDefault = true;
      }
      entry.versions.push(created);
      return reply(200, { policyVersionId: created.versionId, isDefaultVersion: created.isDefault, policyDocument: created.document });
    }
    if (versionId !== undefined && method === 'DELETE') {
      const found = entry.versions.find((v) => v.versionId === versionId);
      if (found === undefined) {
        return reply(404, { message: 'version not found' }, 'ResourceNotFoundException');
      }
      if (found.isDefault) {
        return reply(409, { message: 'Cannot delete the default version of a policy' }, 'DeleteConflictException');
      }
      entry.versions.splice(entry.versions.indexOf(found), 1);
      return reply(200, {});
    }
    return reply(400, { message: `${method} ${path} is not in the double` }, 'InvalidRequestException');
  }
}
