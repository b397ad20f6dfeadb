import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { freePort } from './service-process';

export interface TlsIdentity {
  caCertificatePem: string;
  certificatePem: string;
  privateKeyPem: string;
}

/** The PEM files the mosquitto clients read. */
export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

/** Writes the PEMs to a private temp dir for the mosquitto clients. */
export function writeIdentity(identity: TlsIdentity): TlsFiles {
  const dir = mkdtempSync(join(tmpdir(), 'wc-tls-'));
  const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'client.pem'), key: join(dir, 'client.key') };
  writeFileSync(files.ca, identity.caCertificatePem);
  writeFileSync(files.cert, identity.certificatePem);
  writeFileSync(files.key, identity.privateKeyPem, { mode: 0o600 });
  return files;
}

/** mosquitto_sub / mosquitto_pub arguments for a mutual-TLS connection as `clientId` (MQTT 3.1.1). */
export function tlsArgs(port: number, clientId: string, files: TlsFiles, host = '127.0.0.1'): string[] {
  return ['-h', host, '-p', String(port), '-V', 'mqttv311', '--cafile', files.ca, '--cert', files.cert, '--key', files.key, '-i', clientId];
}

export interface MosquittoResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface MosquittoRun {
  /** Settles when the client has exited and its output is complete. */
  exit: Promise<MosquittoResult>;
  /** Resolves once stdout matches (use -d for protocol events); rejects if the client exits first. */
  waitFor(pattern: RegExp): Promise<void>;
  kill(): void;
}

/**
 * Runs a mosquitto client as a child process, never blocking this process's event loop (a test's
 * broker often runs in it: a synchronous spawn would stall the very broker the client talks to).
 * Output is line-buffered (piped stdout is block-buffered otherwise, hiding progress until exit).
 * A ceiling kills it after `timeoutMs`.
 */
export function runMosquitto(command: 'mosquitto_sub' | 'mosquitto_pub', args: string[], timeoutMs = 60_000): MosquittoRun {
  const child = spawn('stdbuf', ['-oL', '-eL', command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const watchers: Array<{ pattern: RegExp; resolve: () => void }> = [];
  const check = (): void => {
    for (const watcher of [...watchers]) {
      if (watcher.pattern.test(stdout)) {
        watchers.splice(watchers.indexOf(watcher), 1);
        watcher.resolve();
      }
    }
  };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    check();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const ceiling = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exit = new Promise<MosquittoResult>((resolve) =>
    child.once('close', (code) => {
      clearTimeout(ceiling);
      resolve({ code, stdout, stderr });
    }),
  );
  return {
    exit,
    waitFor: (pattern) =>
      new Promise<void>((resolve, reject) => {
        watchers.push({ pattern, resolve });
        check();
        void exit.then((result) => reject(new Error(`${command} exited (${result.code}) before ${pattern}: ${result.stdout}${result.stderr}`)));
      }),
    kill: () => child.kill(),
  };
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
  static async start(port: number, clientId: string, files: TlsFiles, topic: string): Promise<MosquittoSub> {
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

/**
 * Runs `mosquitto_pub` once over mutual TLS (QoS 1 unless `extra` says otherwise: it exits 0 only once
 * the broker acknowledged); resolves with its exit status and output. Non-blocking (see runMosquitto).
 */
export async function mosquittoPub(
  port: number,
  clientId: string,
  files: TlsFiles,
  topic: string,
  message: string,
  extra: string[] = ['-q', '1'],
): Promise<{ status: number | null; output: string }> {
  const result = await runMosquitto('mosquitto_pub', [...tlsArgs(port, clientId, files), '-t', topic, '-m', message, '-d', ...extra]).exit;
  return { status: result.code, output: `${result.stdout}${result.stderr}` };
}

/**
 * A Mosquitto broker of the test's own (the `mosquitto` package's server), anonymous, on a free port, with
 * persistence in its own folder: `restart()` brings it back on the same port with its sessions (a
 * `clean: false` subscriber's queue survives).
 */
export class MosquittoBroker {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(port?: number, dir = mkdtempSync(join(tmpdir(), 'wc-mosquitto-'))): Promise<MosquittoBroker> {
    port ??= await freePort();
    const config = join(dir, 'mosquitto.conf');
    const lines = [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence true', `persistence_location ${dir}/`, 'log_dest stderr', ''];
    if (process.getuid?.() === 0) {
      // Started as root, mosquitto would switch to the `mosquitto` user, which can't write this private folder.
      lines.unshift('user root');
    }
    writeFileSync(config, lines.join('\n'));
    const child = spawn('/usr/sbin/mosquitto', ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const deadline = Date.now() + 15_000;
    while (!(await tcpOpen(port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`mosquitto did not start on ${port}: ${stderr.slice(-500)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return new MosquittoBroker(child, port, dir);
  }

  /** Stops it (it saves its sessions) and starts it again on the same port. */
  async restart(): Promise<MosquittoBroker> {
    await this.stop();
    return MosquittoBroker.start(this.port, this.dir);
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) {
      return;
    }
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
