import { readFileSync } from 'node:fs';
import SwaggerParser from '@apidevtools/swagger-parser';
import { generateOpenApiText, OPENAPI_FILE } from '../src/bin/openapi';

/** operationId → method and path, exactly as API.md fixes them. */
const CONTRACT: Record<string, [string, string]> = {
  getStatus: ['get', '/v1/status'],
  registerClient: ['post', '/v1/registrations'],
  registerPortalClient: ['post', '/v1/admin/registrations'],
  listSubscriptions: ['get', '/v1/channels'],
  sendClientMessage: ['post', '/v1/channels/{channel}/messages'],
  broadcast: ['post', '/v1/messages/broadcast'],
  sendDirect: ['post', '/v1/messages/direct'],
  listChannels: ['get', '/v1/admin/channels'],
  putChannel: ['put', '/v1/admin/channels/{channel}'],
  deleteChannel: ['delete', '/v1/admin/channels/{channel}'],
  listUsers: ['get', '/v1/admin/users'],
  getUser: ['get', '/v1/admin/users/{clientId}'],
  setUserStatus: ['patch', '/v1/admin/users/{clientId}'],
  revokeCertificate: ['delete', '/v1/admin/users/{clientId}/certificates/{certificateId}'],
  getOwnState: ['get', '/v1/state'],
  updateOwnState: ['patch', '/v1/state'],
  getClientState: ['get', '/v1/clients/{clientId}/state'],
  getPresence: ['get', '/v1/presence'],
  updateClientState: ['patch', '/v1/clients/{clientId}/state'],
};

describe('openapi/openapi.json', () => {
  let generated: string;

  beforeAll(async () => {
    generated = await generateOpenApiText();
  });

  it('is what the code produces (run `npm run openapi` after changing the API)', () => {
    expect(readFileSync(OPENAPI_FILE, 'utf8')).toBe(generated);
  });

  it('is a valid OpenAPI 3 document', async () => {
    const api = (await SwaggerParser.validate(JSON.parse(generated))) as { openapi: string };
    expect(api.openapi).toMatch(/^3\./);
  });

  it('has exactly the contract operations, ids, methods and paths', () => {
    const doc = JSON.parse(generated) as { paths: Record<string, Record<string, { operationId: string }>> };
    const found: Record<string, [string, string]> = {};
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        found[op.operationId] = [method, path];
      }
    }
    expect(found).toEqual(CONTRACT);
  });

  it('describes bodies and responses with the contract names', () => {
    const doc = JSON.parse(generated);
    const schemas = doc.components.schemas;
    expect(Object.keys(schemas.Registration.properties).sort()).toEqual(
      ['caCertificatePem', 'certificateId', 'certificatePem', 'clientId', 'connectionToken', 'connectionTokenExpiresAt', 'connectionType', 'endpoint', 'port', 'privateKeyPem', 'status', 'url'].sort(),
    );
    expect(Object.keys(schemas.PublishResult.properties).sort()).toEqual(['channel', 'messageId', 'topic']);
    expect(Object.keys(schemas.ClientState.properties).sort()).toEqual(['clientId', 'state', 'updatedAt', 'version']);
    expect(Object.keys(schemas.ClientStateSections.properties).sort()).toEqual(['delta', 'desired', 'reported']);
    expect(doc.paths['/v1/messages/broadcast'].post.responses['202']).toBeDefined();
    expect(doc.paths['/v1/registrations'].post.responses['201']).toBeDefined();
    expect(doc.paths['/v1/admin/channels/{channel}'].delete.responses['204']).toBeDefined();
    expect(doc.paths['/v1/admin/users'].get.parameters.map((p: { name: string }) => p.name).sort()).toEqual(['cursor', 'limit', 'status']);
    expect(doc.paths['/v1/admin/users/{clientId}/certificates/{certificateId}'].delete.responses['204']).toBeDefined();
    expect(Object.keys(schemas.SetUserStatusRequest.properties).sort()).toEqual(['expiresAt', 'reason', 'status']);
    expect(schemas.User.properties.banExpiresAt).toBeDefined();
  });
});
