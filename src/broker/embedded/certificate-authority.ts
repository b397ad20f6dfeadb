// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect polyfill loaded first.
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { Piscina } from 'piscina';
import { isClientId } from '../../domain/ids';

/** A client certificate as handed to a device once. The private key is never stored or logged. */
export interface IssuedClientCertificate {
  certificatePem: string;
  privateKeyPem: string;
  /** The certificate's serial number, lowercase hex. */
  certificateId: string;
}

/** Key material for the TLS listener. */
export interface ServerCredentials {
  certificatePem: string;
  privateKeyPem: string;
}

export interface CertificateAuthorityOptions {
  /** `${DATA_DIR}`: the generated CA lives in `${dataDir}/ca/`. */
  dataDir: string;
  /** PEM files of an existing CA (MQTT_CA_CERT_FILE / MQTT_CA_KEY_FILE, PKCS#8 key); both or neither. */
  caCertFile?: string;
  caKeyFile?: string;
  /** Host names and IP addresses the server certificate must cover. */
  serverHosts: string[];
  /**
   * Worker threads that build client certificates (default: one per CPU but one, at least one,
   * at most four); 0 builds them on the calling thread. Workers need the compiled service
   * (certificate-worker.js next to this file); from TypeScript sources it is always 0.
   */
  workerThreads?: number;
}

/** What a certificate worker is started with. The key never leaves the process. */
export interface CertificateWorkerData {
  caCertificatePem: string;
  caKeyPem: string;
}

const WORKER_FILE = join(__dirname, 'certificate-worker.js');

type CryptoKey = webcrypto.CryptoKey;
type Algorithm = webcrypto.Algorithm;

const crypto = webcrypto;
const EC_KEY: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const EC_SIGNING: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const DAY_MS = 86_400_000;
/** Tolerates clients whose clocks run a little behind ours. */
const BACKDATE_MS = 5 * 60_000;
const CA_VALIDITY_DAYS = 3650;
const CLIENT_VALIDITY_DAYS = 365;
/** The server certificate is minted at every start, so it only has to outlive one process. */
const SERVER_VALIDITY_DAYS = 825;

/**
 * The embedded broker's own certificate authority (EC P-256, ECDSA with SHA-256,
 * via @peculiar/x509 on WebCrypto).
 *
 * Why it persists: devices keep the certificate they were issued, so the CA
 * must survive restarts; it is created once under `${dataDir}/ca/` (directory
 * 0700, key 0600) or loaded from configured PEM files. The server certificate is
 * cheap to mint and depends on PUBLIC_HOST, so it is generated at every start
 * instead of being cached (a changed PUBLIC_HOST can never leave a stale SAN).
 *
 * Revocation is not done with CRLs: the broker checks the client's status in the
 * registry at every CONNECT, so a banned device's still-valid certificate gets
 * it nowhere.
 */
export class CertificateAuthority {
  private constructor(
    private readonly issuer: ClientCertificateIssuer,
    /** PEM of the CA certificate: what clients put in their trust store. */
    readonly caCertificatePem: string,
    readonly server: ServerCredentials,
    private readonly workers: Piscina<string, IssuedClientCertificate> | undefined,
  ) {}

  /** Loads the configured or persisted CA, creating and persisting one on first start, and mints the server certificate. */
  static async open(options: CertificateAuthorityOptions): Promise<CertificateAuthority> {
    x509.cryptoProvider.set(crypto);
    const { certificate, key, keyPem, signing } =
      options.caCertFile !== undefined || options.caKeyFile !== undefined
        ? await loadConfigured(options)
        : await loadOrCreateInDataDir(options.dataDir);
    const pem = certificate.toString('pem');
    const server = await issueServerCertificate(certificate, key, signing, options.serverHosts);
    const threads = existsSync(WORKER_FILE) ? (options.workerThreads ?? Math.min(4, Math.max(2, availableParallelism()))) : 0;
    // Why workers: building a certificate is about 2.5 ms of synchronous JavaScript (ASN.1 in
    // @peculiar/x509); on the event loop it held up every other request and capped OPENSSL
    // registrations at about 0.4x the library's own rate. One per core (at least two): the event loop's
    // share of a registration is small, and a single worker capped the rate at 0.5x the library's
    // one-thread rate on 2 cores (two: 0.8x, same run). Started on first use, gone when idle.
    const workers =
      threads > 0
        ? new Piscina<string, IssuedClientCertificate>({
            filename: WORKER_FILE,
            workerData: { caCertificatePem: pem, caKeyPem: keyPem } satisfies CertificateWorkerData,
            minThreads: 0,
            maxThreads: threads,
            idleTimeout: 30_000,
          })
        : undefined;
    return new CertificateAuthority(new ClientCertificateIssuer(certificate, key, signing), pem, server, workers);
  }

  /** A client certificate (CN = client id, clientAuth) with a fresh key pair; the caller hands the key out once. */
  async issueClientCertificate(clientId: string): Promise<IssuedClientCertificate> {
    if (this.workers === undefined) {
      return this.issuer.issue(clientId);
    }
    // Refused here, so the caller gets the TypeError itself rather than one rebuilt across threads.
    if (!isClientId(clientId)) {
      throw new TypeError('invalid client id');
    }
    return this.workers.run(clientId);
  }

  /** True when certificates are built on worker threads. */
  get usesWorkers(): boolean {
    return this.workers !== undefined;
  }

  /** Stops the worker threads (idle ones exit by themselves after 30 s). */
  async close(): Promise<void> {
    await this.workers?.close({ force: true });
  }
}

/** Builds client certificates from the CA's certificate and key: in the service's thread or in a worker. */
export class ClientCertificateIssuer {
  constructor(
    private readonly caCertificate: x509.X509Certificate,
    private readonly caKey: CryptoKey,
    private readonly caSigning: Algorithm,
  ) {}

  /** For a worker thread: the CA as the main thread loaded (and checked) it. */
  static async fromPem(data: CertificateWorkerData): Promise<ClientCertificateIssuer> {
    x509.cryptoProvider.set(crypto);
    const { certificate, key, signing } = await loadPem(data.caCertificatePem, data.caKeyPem, 'certificate worker');
    return new ClientCertificateIssuer(certificate, key, signing);
  }

  async issue(clientId: string): Promise<IssuedClientCertificate> {
    if (!isClientId(clientId)) {
      throw new TypeError('invalid client id');
    }
    const keys = await crypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
    const serialNumber = newSerialNumber();
    const now = Date.now();
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber,
      subject: [{ CN: [clientId] }],
      issuer: this.caCertificate.subjectName,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + CLIENT_VALIDITY_DAYS * DAY_MS),
      publicKey: keys.publicKey,
      signingKey: this.caKey,
      signingAlgorithm: this.caSigning,
      extensions: await leafExtensions(this.caCertificate, keys.publicKey, x509.ExtendedKeyUsage.clientAuth),
    });
    return {
      certificatePem: certificate.toString('pem'),
      privateKeyPem: await exportPrivateKeyPem(keys.privateKey),
      certificateId: serialNumber,
    };
  }
}

async function loadConfigured(
  options: CertificateAuthorityOptions,
): Promise<LoadedCa> {
  if (options.caCertFile === undefined || options.caKeyFile === undefined) {
    throw new Error('MQTT_CA_CERT_FILE and MQTT_CA_KEY_FILE must be set together');
  }
  return loadPem(readFileSync(options.caCertFile, 'utf8'), readFileSync(options.caKeyFile, 'utf8'), 'MQTT_CA_CERT_FILE/MQTT_CA_KEY_FILE');
}

interface LoadedCa {
  certificate: x509.X509Certificate;
  key: CryptoKey;
  /** PKCS#8 PEM of the key, for the worker threads. */
  keyPem: string;
  signing: Algorithm;
}

async function loadOrCreateInDataDir(dataDir: string): Promise<LoadedCa> {
  const dir = join(dataDir, 'ca');
  const certFile = join(dir, 'ca.pem');
  const keyFile = join(dir, 'ca-key.pem');
  // The certificate is renamed into place last, so its presence means a complete CA.
  // A key without a certificate is a crash between the two renames: nothing was
  // ever issued from it, so it is safe to start over.
  if (existsSync(certFile)) {
    if (!existsSync(keyFile)) {
      throw new Error(
        `${certFile} exists but its key ${keyFile} is missing: restore it, or remove the certificate to create a new CA (issued client certificates stop working)`,
      );
    }
    chmodSync(keyFile, 0o600);
    return loadPem(readFileSync(certFile, 'utf8'), readFileSync(keyFile, 'utf8'), certFile);
  }

  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const keys = await crypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: newSerialNumber(),
    name: [{ CN: [`Web Communicator CA ${randomBytes(4).toString('hex')}`] }, { O: ['Web Communicator'] }],
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + CA_VALIDITY_DAYS * DAY_MS),
    keys,
    signingAlgorithm: EC_SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const keyPem = await exportPrivateKeyPem(keys.privateKey);
  writeAtomically(keyFile, keyPem);
  writeAtomically(certFile, certificate.toString('pem'));
  return { certificate, key: keys.privateKey, keyPem, signing: EC_SIGNING };
}

function writeAtomically(file: string, content: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, content, { mode: 0o600 });
  renameSync(temp, file);
}

/** Parses a CA certificate and its PKCS#8 key (EC or RSA) and proves they belong together. */
async function loadPem(
  certificatePem: string,
  keyPem: string,
  source: string,
): Promise<LoadedCa> {
  let certificate: x509.X509Certificate;
  try {
    certificate = new x509.X509Certificate(certificatePem);
  } catch (error) {
    throw new Error(`${source}: the CA certificate is not a valid PEM certificate`, { cause: error });
  }
  const basic = certificate.getExtension(x509.BasicConstraintsExtension);
  if (basic !== null && !basic.ca) {
    throw new Error(`${source}: the certificate is not a CA certificate (basicConstraints CA:FALSE)`);
  }
  const algorithm = certificate.publicKey.algorithm as Algorithm & { namedCurve?: string };
  let importParams: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;
  let signing: Algorithm;
  if (algorithm.name === 'ECDSA') {
    importParams = { name: 'ECDSA', namedCurve: algorithm.namedCurve ?? 'P-256' };
    signing = EC_SIGNING;
  } else if (algorithm.name === 'RSASSA-PKCS1-v1_5') {
    importParams = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    signing = { name: 'RSASSA-PKCS1-v1_5' };
  } else {
    throw new Error(`${source}: unsupported CA key algorithm ${algorithm.name} (use EC or RSA)`);
  }
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(keyPem), importParams, false, ['sign']);
  } catch (error) {
    throw new Error(`${source}: the CA key is not a PKCS#8 PEM key matching the certificate's algorithm`, { cause: error });
  }
  // A key that doesn't match the certificate would issue certificates nobody can verify.
  const probe = randomBytes(32);
  const signature = await crypto.subtle.sign(signing, key, probe);
  const publicKey = await crypto.subtle.importKey('spki', certificate.publicKey.rawData, importParams, false, ['verify']);
  if (!(await crypto.subtle.verify(signing, publicKey, signature, probe))) {
    throw new Error(`${source}: the CA key does not belong to the CA certificate`);
  }
  return { certificate, key, keyPem, signing };
}

async function issueServerCertificate(
  ca: x509.X509Certificate,
  caKey: CryptoKey,
  signing: Algorithm,
  hosts: string[],
): Promise<ServerCredentials> {
  const keys = await crypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const names = [...new Set(hosts.map((h) => h.replace(/^\[(.*)\]$/, '$1')))].map((host): x509.JsonGeneralName =>
    isIP(host) === 0 ? { type: 'dns', value: host } : { type: 'ip', value: host },
  );
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: newSerialNumber(),
    subject: [{ CN: [hosts[0] ?? 'localhost'] }],
    issuer: ca.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + SERVER_VALIDITY_DAYS * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: signing,
    extensions: [
      ...(await leafExtensions(ca, keys.publicKey, x509.ExtendedKeyUsage.serverAuth)),
      new x509.SubjectAlternativeNameExtension(names),
    ],
  });
  return { certificatePem: certificate.toString('pem'), privateKeyPem: await exportPrivateKeyPem(keys.privateKey) };
}

async function leafExtensions(ca: x509.X509Certificate, publicKey: CryptoKey, usage: x509.ExtendedKeyUsage): Promise<x509.Extension[]> {
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([usage]),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
  ];
  // OpenSSL skips an issuer whose key id differs from the leaf's AKI, so copy the
  // CA's own SKI rather than recomputing it (a configured CA may derive it differently).
  const caKeyId = ca.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  if (caKeyId !== undefined) {
    extensions.push(new x509.AuthorityKeyIdentifierExtension(caKeyId));
  }
  return extensions;
}

async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** 128 random bits, positive and without a leading zero byte, so every tool prints the same hex. */
function newSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] & 0x7f) | 0x40;
  return bytes.toString('hex');
}
