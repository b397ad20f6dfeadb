import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, ServiceProcess } from './support/service-process';

const run = promisify(execFile);
const ROOT = join(__dirname, '..');

/** The README's tour snippets, each found by the `<!-- tour:NAME -->` comment right above its code block. */
function tourSnippets(): Map<string, string> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const snippets = new Map<string, string>();
  for (const match of readme.matchAll(/<!-- tour:([a-z-]+) -->\n```[a-z]+\n([\s\S]*?)\n```/g)) {
    snippets.set(match[1], match[2]);
  }
  return snippets;
}

/** Waits for a condition, polling; fails with what was seen. */
async function until(what: string, check: () => boolean | Promise<boolean>, seen: () => string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}; saw:\n${seen()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

class Output {
  text = '';
  constructor(readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (this.text += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.text += d));
  }
}

describe('the README tour runs as written', () => {
  let service: ServiceProcess;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let snippets: Map<string, string>;
  const children: ChildProcess[] = [];
  let port: number;
  let tlsPort: number;

  /** A snippet with only the ports changed: the service runs on free ports, not 3000 and 8883. */
  const snippet = (name: string): string => {
    const text = snippets.get(name);
    if (text === undefined) {
      throw new Error(`README has no tour snippet ${name}`);
    }
    return text.replaceAll('localhost:3000', `localhost:${port}`).replaceAll('-p 8883', `-p ${tlsPort}`);
  };
  const bash = async (name: string, extra: string = ''): Promise<string> => (await run('bash', ['-euo', 'pipefail', '-c', snippet(name) + extra], { cwd: work, env })).stdout;

  beforeAll(async () => {
    snippets = tourSnippets();
    tlsPort = await freePort();
    service = await ServiceProcess.start({ PUBLIC_HOST: 'localhost', MQTT_TLS_PORT: String(tlsPort) });
    port = Number(new URL(service.url).port);
    // A folder like the reader's project folder: the snippets write files (kiosk.json, keys) into it.
    work = mkdtempSync(join(tmpdir(), 'wc-tour-'));
    for (const entry of ['package.json', 'package-lock.json', 'node_modules', 'dist', 'scripts', 'src', 'config', 'tsconfig.json', 'tsconfig.build.json', 'nest-cli.json']) {
      symlinkSync(join(ROOT, entry), join(work, entry));
    }
    env = { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: service.config.dataDir };
  });

  afterAll(async () => {
    for (const child of children) {
      child.kill('SIGKILL');
    }
    service.kill('SIGTERM');
    await service.exited;
    rmSync(work, { recursive: true, force: true });
  });

  it('tokens, registration, channels; mqtt.js receives a broadcast and a direct message; a device over TLS receives a broadcast; a ban', async () => {
    // Step 1-3, then keep the tokens for the next snippets as the reader's shell would.
    const out = await bash('tokens', '\nprintf "\\n%s\\n%s\\n%s\\n" "$ADMIN" "$SERVICE" "$ALICE"');
    const [admin, serviceToken, alice] = out.trim().split('\n').slice(-3);
    expect(out).toContain('"connectionType":"WEBSOCKET"');
    expect(out).toContain('"subscriptions"');
    env = { ...env, ADMIN: admin, SERVICE: serviceToken, ALICE: alice };

    // alice.js, pasted into a .js file as the README says.
    writeFileSync(join(work, 'alice.js'), snippets.get('receive')!.replaceAll('localhost:3000', `localhost:${port}`));
    const aliceJs = new Output(spawn(process.execPath, ['alice.js'], { cwd: work, env }));
    children.push(aliceJs.child);
    await until('alice.js to subscribe', () => aliceJs.text.includes('subscribed to'), () => aliceJs.text);

    const published = await bash('publish');
    expect(published).toContain('"messageId"');
    await until('alice.js to print both messages', () => aliceJs.text.includes('new pak available') && aliceJs.text.includes('your reward is ready'), () => aliceJs.text);

    await bash('device');
    const sub = new Output(spawn('bash', ['-c', snippet('device-subscribe')], { cwd: work, env }));
    children.push(sub.child);
    // mosquitto_sub prints nothing until a message arrives: broadcast until one does.
    await until(
      'mosquitto_sub to print the broadcast',
      async () => {
        await bash('device-broadcast');
        return sub.text.includes('doors open at 9');
      },
      () => sub.text,
    );
    expect(sub.text).toMatch(/^webcommunicator\/dev\/CloudGemWebCommunicator \{"Channel":"CloudGemWebCommunicator","Message":"doors open at 9"/m);

    const banned = await bash('ban');
    expect(JSON.parse(banned)).toMatchObject({ clientId: 'alice', status: 'BANNED', banReason: 'cheating' });
  });
});
