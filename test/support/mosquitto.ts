import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TlsIdentity {
  caCertificatePem: string;
  certificatePem: string;
  privateKeyPem: string;
}

/** Writes the PEMs to a private temp dir for the mosquitto clients. */
export function writeIdentity(identity: TlsIdentity): { ca: string; cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'wc-tls-'));
  const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'client.pem'), key: join(dir, 'client.key') };
  writeFileSync(files.ca, identity.caCertificatePem);
  writeFileSync(files.cert, identity.certificatePem);
  writeFileSync(files.key, identity.privateKeyPem, { mode: 0o600 });
  return files;
}

function tlsArgs(port: number, clientId: string, files: { ca: string; cert: string; key: string }): string[] {
  return ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv311', '--cafile', files.ca, '--cert', files.cert, '--key', files.key, '-i', clientId];
}

/** A running `mosquitto_sub` over mutual TLS. */
export class MosquittoSub {
  readonly lines: string[] = [];
  private debug = '';
  readonly exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) {
        if (line.startsWith('{')) {
          this.lines.push(line);
        }
        this.debug += `${line}\n`;
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.debug += chunk;
    });
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** Starts it and waits for its SUBACK (it runs with -d to print protocol events). */
  static async start(port: number, clientId: string, files: { ca: string; cert: string; key: string }, topic: string): Promise<MosquittoSub> {
    const child = spawn('stdbuf', ['-oL', '-eL', 'mosquitto_sub', ...tlsArgs(port, clientId, files), '-t', topic, '-d', '--keepalive', '5'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const sub = new MosquittoSub(child);
    const deadline = Date.now() + 30_000;
    while (!sub.debug.includes('SUBACK')) {
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill();
        throw new Error(`mosquitto_sub did not subscribe: ${sub.output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return sub;
  }

  get output(): string {
    return this.debug;
  }

  async waitForLines(count: number, timeoutMs = 30_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length < count) {
      if (Date.now() > deadline) {
        throw new Error(`expected ${count} messages, got ${this.lines.length}: ${this.debug}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.lines;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  stop(): void {
    this.child.kill();
  }
}

/** Runs `mosquitto_pub` once; returns its exit status and output. */
export function mosquittoPub(port: number, clientId: string, files: { ca: string; cert: string; key: string }, topic: string, message: string): { status: number | null; output: string } {
  const result = spawnSync('mosquitto_pub', [...tlsArgs(port, clientId, files), '-t', topic, '-m', message, '-d'], { encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}
