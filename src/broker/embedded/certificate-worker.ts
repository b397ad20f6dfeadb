/**
 * A worker thread of the embedded broker's CertificateAuthority (run by piscina):
 * builds client certificates off the service's event loop. Loaded only from the
 * compiled service (dist/), see CertificateAuthorityOptions.workerThreads.
 */
import { workerData } from 'node:worker_threads';
import { type CertificateWorkerData, ClientCertificateIssuer, type IssuedClientCertificate } from './certificate-authority';

const issuer = ClientCertificateIssuer.fromPem(workerData as CertificateWorkerData);

export default async function issueClientCertificate(clientId: string): Promise<IssuedClientCertificate> {
  return (await issuer).issue(clientId);
}
