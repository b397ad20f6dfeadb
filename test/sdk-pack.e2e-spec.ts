import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = join(__dirname, '..');
const SDK = join(ROOT, 'clients', 'typescript');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/**
 * The SDK as its users get it: built, packed with `npm pack`, installed into a
 * new project, and type-checked there (with skipLibCheck, as most projects do,
 * so a missing declaration file would silently turn everything into `any`).
 */
describe('the packed TypeScript SDK type-checks in a consumer project', () => {
  let consumer: string;

  beforeAll(async () => {
    await run(process.execPath, [TSC, '-p', join(SDK, 'tsconfig.json')], { cwd: SDK });
    consumer = mkdtempSync(join(tmpdir(), 'wc-sdk-consumer-'));
    await run('npm', ['pack', '--silent', '--pack-destination', consumer], { cwd: SDK });
    const tarball = readdirSync(consumer).find((f) => f.endsWith('.tgz'));
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', `./${tarball}`], { cwd: consumer });
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { strict: true, module: 'commonjs', target: 'ES2022', lib: ['ES2022', 'DOM'], skipLibCheck: true, noEmit: true, esModuleInterop: true } }),
    );
  });

  afterAll(() => {
    rmSync(consumer, { recursive: true, force: true });
  });

  async function typeCheck(source: string): Promise<{ ok: boolean; output: string }> {
    writeFileSync(join(consumer, 'index.ts'), source);
    try {
      await run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: consumer });
      return { ok: true, output: '' };
    } catch (error) {
      return { ok: false, output: String((error as { stdout?: string }).stdout ?? error) };
    }
  }

  it('a correct use compiles, with the response typed', async () => {
    const result = await typeCheck(`
import { createWebCommunicatorClient, type Registration } from '@web-communicator/client';
async function main(): Promise<void> {
  const api = createWebCommunicatorClient('http://localhost:3000', 'token');
  const { data } = await api.POST('/v1/registrations', { body: { connectionType: 'WEBSOCKET' } });
  const reg: Registration | undefined = data;
  const url: string | undefined = reg?.url;
  const status = await api.GET('/v1/status');
  const online: string | undefined = status.data?.status;
  console.log(url, online);
}
void main();
`);
    expect(result).toEqual({ ok: true, output: '' });
  });

  it('a typo in a path, a body field or a response field fails to compile', async () => {
    const result = await typeCheck(`
import { createWebCommunicatorClient } from '@web-communicator/client';
async function main(): Promise<void> {
  const api = createWebCommunicatorClient('http://localhost:3000', 'token');
  await api.GET('/v1/statuz');
  await api.POST('/v1/registrations', { body: { connectionTyp: 'WEBSOCKET' } });
  const { data } = await api.GET('/v1/status');
  console.log(data?.uptimeSecondz);
}
void main();
`);
    expect(result.ok).toBe(false);
    // Line 5 is the path typo: openapi-fetch types the path, so an unknown one is an error (whatever tsc calls it).
    expect(result.output).toMatch(/index\.ts\(5,\d+\): error TS/);
    expect(result.output).toContain('connectionTyp');
    expect(result.output).toContain('uptimeSecondz');
  });
});
