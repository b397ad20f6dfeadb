import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = join(__dirname, '..');
const SPEC = join(ROOT, 'openapi', 'openapi.json');
const bin = (name: string): string => join(ROOT, 'node_modules', '.bin', name);

/**
 * Generators for other languages aren't reachable here, so the committed document is checked by a
 * linter (Redocly, recommended rules) and by a second generator (Hey API) besides openapi-typescript.
 */
describe('the OpenAPI document passes a linter and a second generator', () => {
  it('Redocly lint: 0 errors', async () => {
    const { stdout, stderr } = await run(bin('redocly'), ['lint', SPEC, '--format=stylish'], { cwd: ROOT }).catch((error: { stdout: string; stderr: string }) => {
      throw new Error(`redocly lint failed:\n${error.stdout}\n${error.stderr}`);
    });
    expect(`${stdout}\n${stderr}`).toMatch(/Your API description is valid/);
  });

  it('@hey-api/openapi-ts generates without warnings, one type per named schema and enum', async () => {
    const out = mkdtempSync(join(tmpdir(), 'wc-heyapi-'));
    try {
      const { stdout, stderr } = await run(bin('openapi-ts'), ['-i', SPEC, '-o', out], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } });
      const log = `${stdout}\n${stderr}`;
      expect(log).toContain('Done!');
      expect(log).not.toMatch(/warn|❗|⚠/i);
      const types = readFileSync(join(out, 'types.gen.ts'), 'utf8');
      for (const name of ['Registration', 'Subscription', 'Channel', 'PublishResult', 'User', 'Problem', 'BroadcastRequest', 'ConnectionType', 'UserStatus', 'ChannelType']) {
        expect(types).toMatch(new RegExp(`export type ${name} = `));
      }
      expect(types).not.toMatch(/export type \w+Dto\b/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('schema names are the contract\'s (no Dto suffix) and each operation declares its problems', () => {
    const spec = JSON.parse(readFileSync(SPEC, 'utf8')) as {
      components: { schemas: Record<string, unknown> };
      paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown> }>>;
      servers?: unknown[];
    };
    expect(Object.keys(spec.components.schemas).filter((name) => /Dto$/.test(name))).toEqual([]);
    expect(spec.servers?.length).toBeGreaterThan(0);
    const text = JSON.stringify(spec);
    // `connectionType` and the like are one named enum, not repeated inline.
    expect(text.split('"enum":["WEBSOCKET","OPENSSL"]').length - 1 + text.split('"enum":["OPENSSL","WEBSOCKET"]').length - 1).toBe(1);
    expect(spec.components.schemas.ConnectionType).toEqual({ type: 'string', enum: ['WEBSOCKET', 'OPENSSL'] });
    const broadcast = spec.paths['/v1/messages/broadcast'].post;
    expect(Object.keys(broadcast.responses)).toEqual(expect.arrayContaining(['202', '400', '401', '403', '404', '413', '415', '422', '503']));
  });
});
