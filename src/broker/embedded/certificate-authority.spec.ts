import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateAuthority } from './certificate-authority';

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const DAY_MS = 86_400_000;

describe('CertificateAuthority', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'wc-ca-'));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const open = (options: Partial<Parameters<typeof CertificateAuthority.open>[0]> = {}): Promise<CertificateAuthority> =>
    CertificateAuthority.open({ dataDir: dir, serverHosts: ['broker.example.test', 'localhost', '127.0.0.1', '::1'], ...options });

  it('creates a CA under dataDir/ca with a 0700 directory and a 0600 key', async () => {
    const authority = await open();

    expect(statSync(join(dir, 'ca')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'ca', 'ca-key.pem')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'ca', 'ca.pem'), 'utf8')).toBe(authority.caCertificatePem);
    const ca = new X509Certificate(authority.caCertificatePem);
    expect(ca.ca).toBe(true);
    expect(ca.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(ca.verify(ca.publicKey)).toBe(true);
    expect(readdirSync(join(dir, 'ca')).sort()).toEqual(['ca-key.pem', 'ca.pem']);
  });

  it('reuses the persisted CA on the next start', async () => {
    const first = await open();
    const issued = await first.issueClientCertificate('dev-1');

    const second = await open();

    expect(second.caCertificatePem).toBe(first.caCertificatePem);
    expect(new X509Certificate(issued.certificatePem).verify(new X509Certificate(second.caCertificatePem).publicKey)).toBe(true);
  });

  it('issues a client certificate for one client id, signed by the CA, valid for about a year', async () => {
    const authority = await open();

    const issued = await authority.issueClientCertificate('eu-west-1:0f1e2d3c-aaaa.bbbb_cccc');

    const certificate = new X509Certificate(issued.certificatePem);
    const ca = new X509Certificate(authority.caCertificatePem);
    expect(certificate.subject).toBe('CN=eu-west-1:0f1e2d3c-aaaa.bbbb_cccc');
    expect(certificate.checkIssued(ca)).toBe(true);
    expect(certificate.verify(ca.publicKey)).toBe(true);
    expect(certificate.ca).toBe(false);
    expect(certificate.keyUsage).toEqual([CLIENT_AUTH]);
    expect(certificate.serialNumber.toLowerCase()).toBe(issued.certificateId);
    expect(issued.certificateId).toMatch(/^[0-9a-f]{32}$/);
    const lifetime = Date.parse(certificate.validTo) - Date.now();
    expect(lifetime).toBeGreaterThan(364 * DAY_MS);
    expect(lifetime).toBeLessThan(366 * DAY_MS);
    expect(certificate.checkPrivateKey(createPrivateKey(issued.privateKeyPem))).toBe(true);
    expect(issued.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  it('gives every certificate its own key and serial, and stores no client key', async () => {
    const authority = await open();
    const a = await authority.issueClientCertificate('dev-1');
    const b = await authority.issueClientCertificate('dev-1');

    expect(a.certificateId).not.toBe(b.certificateId);
    expect(a.privateKeyPem).not.toBe(b.privateKeyPem);
    const stored = readdirSync(join(dir, 'ca')).map((f) => readFileSync(join(dir, 'ca', f), 'utf8'));
    expect(stored.some((content) => content.includes(a.privateKeyPem.split('\n')[1]))).toBe(false);
  });

  it('refuses ids that are not client ids', async () => {
    const authority = await open();
    await expect(authority.issueClientCertificate('a/b')).rejects.toThrow(TypeError);
    await expect(authority.issueClientCertificate('CN=x,O=y')).rejects.toThrow(TypeError);
  });

  it('mints a server certificate for the public host, localhost and loopback addresses', async () => {
    const authority = await open();

    const server = new X509Certificate(authority.server.certificatePem);
    expect(server.checkIssued(new X509Certificate(authority.caCertificatePem))).toBe(true);
    expect(server.keyUsage).toEqual([SERVER_AUTH]);
    expect(server.checkHost('broker.example.test')).toBe('broker.example.test');
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.checkIP('::1')).toBe('::1');
    expect(server.checkHost('other.example.test')).toBeUndefined();
    expect(server.checkPrivateKey(createPrivateKey(authority.server.privateKeyPem))).toBe(true);
  });

  it('starts over when a crash left a key without its certificate', async () => {
    await open();
    unlinkSync(join(dir, 'ca', 'ca.pem'));
    const key = readFileSync(join(dir, 'ca', 'ca-key.pem'), 'utf8');

    await open();

    expect(existsSync(join(dir, 'ca', 'ca.pem'))).toBe(true);
    expect(readFileSync(join(dir, 'ca', 'ca-key.pem'), 'utf8')).not.toBe(key);
  });

  it('refuses to start when the CA key is missing', async () => {
    await open();
    unlinkSync(join(dir, 'ca', 'ca-key.pem'));
    await expect(open()).rejects.toThrow(/ca-key\.pem is missing/);
  });

  describe('configured CA files', () => {
    function opensslCa(name: string, keyArgs: string[]): { cert: string; key: string } {
      const cert = join(dir, `${name}.pem`);
      const key = join(dir, `${name}-key.pem`);
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-nodes',
          ...keyArgs,
          '-keyout',
          key,
          '-out',
          cert,
          '-days',
          '30',
          '-subj',
          `/CN=${name}`,
          '-addext',
          'basicConstraints=critical,CA:TRUE',
          '-addext',
          'keyUsage=critical,keyCertSign,cRLSign',
        ],
        { stdio: 'ignore' },
      );
      return { cert, key };
    }

    it.each([
      ['EC', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']],
      ['RSA', ['-newkey', 'rsa:2048']],
    ])('loads an %s CA from PEM files and issues certificates it verifies', async (name, keyArgs) => {
      const files = opensslCa(`ext-${name}`, keyArgs);

      const authority = await open({ caCertFile: files.cert, caKeyFile: files.key });
      const issued = await authority.issueClientCertificate('dev-1');

      const ca = new X509Certificate(readFileSync(files.cert));
      expect(authority.caCertificatePem.replace(/\s/g, '')).toBe(readFileSync(files.cert, 'utf8').replace(/\s/g, ''));
      expect(new X509Certificate(issued.certificatePem).verify(ca.publicKey)).toBe(true);
      expect(new X509Certificate(authority.server.certificatePem).verify(ca.publicKey)).toBe(true);
      expect(existsSync(join(dir, 'ca'))).toBe(false);
    });

    it('refuses a key that does not belong to the certificate, or only one of the two files', async () => {
      const a = opensslCa('a', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
      const b = opensslCa('b', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);

      await expect(open({ caCertFile: a.cert, caKeyFile: b.key })).rejects.toThrow(/does not belong/);
      await expect(open({ caCertFile: a.cert })).rejects.toThrow(/must be set together/);
      writeFileSync(join(dir, 'junk.pem'), 'not a key');
      await expect(open({ caCertFile: a.cert, caKeyFile: join(dir, 'junk.pem') })).rejects.toThrow(/PKCS#8/);
    });
  });
});

describe('CertificateAuthority on worker threads (the compiled service)', () => {
  // Workers load dist/broker/embedded/certificate-worker.js: `npm test` builds before jest runs.
  const compiled = join(__dirname, '..', '..', '..', 'dist', 'broker', 'embedded', 'certificate-authority.js');

  it('builds certificates on workers that the CA signed, each with its own key, and stops them on close', async () => {
    expect(existsSync(compiled)).toBe(true);
    const { CertificateAuthority: Compiled } = (await import(compiled)) as { CertificateAuthority: typeof CertificateAuthority };
    const dir = mkdtempSync(join(tmpdir(), 'wc-ca-workers-'));
    const authority = await Compiled.open({ dataDir: dir, serverHosts: ['127.0.0.1'], workerThreads: 2 });
    try {
      expect(authority.usesWorkers).toBe(true);
      const ids = Array.from({ length: 12 }, (_, i) => `device-${i}`);
      const issued = await Promise.all(ids.map((id) => authority.issueClientCertificate(id)));

      const ca = new X509Certificate(authority.caCertificatePem);
      issued.forEach((cert, i) => {
        const certificate = new X509Certificate(cert.certificatePem);
        expect(certificate.subject).toBe(`CN=${ids[i]}`);
        expect(certificate.verify(ca.publicKey)).toBe(true);
        expect(certificate.keyUsage).toEqual([CLIENT_AUTH]);
        expect(certificate.checkPrivateKey(createPrivateKey(cert.privateKeyPem))).toBe(true);
      });
      expect(new Set(issued.map((c) => c.certificateId)).size).toBe(ids.length);
      await expect(authority.issueClientCertificate('a/b')).rejects.toThrow(TypeError);
    } finally {
      await authority.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('builds them on the calling thread when asked for no workers', async () => {
    const { CertificateAuthority: Compiled } = (await import(compiled)) as { CertificateAuthority: typeof CertificateAuthority };
    const dir = mkdtempSync(join(tmpdir(), 'wc-ca-noworkers-'));
    const authority = await Compiled.open({ dataDir: dir, serverHosts: ['127.0.0.1'], workerThreads: 0 });
    try {
      expect(authority.usesWorkers).toBe(false);
      const cert = await authority.issueClientCertificate('device-x');
      expect(new X509Certificate(cert.certificatePem).verify(new X509Certificate(authority.caCertificatePem).publicKey)).toBe(true);
    } finally {
      await authority.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
