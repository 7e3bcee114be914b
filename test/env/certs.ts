/** Keys and certificates of the test control plane, made with the openssl CLI. */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Paths of the files written by `writeCertificates`. */
export interface CertificatePaths {
  /** CA certificate; clients trust it, and it is the controller-manager's root CA file. */
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** Service-account signing key (private) and its public key. */
  readonly serviceAccountKey: string;
  readonly serviceAccountPub: string;
}

function openssl(args: readonly string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`openssl ${args[0]} failed: ${(err as Error).message}\n${stderr}`);
  }
}

/**
 * Writes a CA, an apiserver serving certificate for 127.0.0.1/localhost signed by it, and a service-account
 * key pair into `dir`. EC P-256 keys keep this to a few tens of milliseconds.
 */
export function writeCertificates(dir: string): CertificatePaths {
  const p = (name: string): string => join(dir, name);
  const paths: CertificatePaths = {
    caCert: p('ca.crt'),
    serverCert: p('apiserver.crt'),
    serverKey: p('apiserver.key'),
    serviceAccountKey: p('sa.key'),
    serviceAccountPub: p('sa.pub'),
  };
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ecKey, '-keyout', p('ca.key'), '-out', paths.caCert,
    '-subj', '/CN=agentway-test-ca', '-days', '3650']);
  openssl(['req', ...ecKey, '-keyout', paths.serverKey, '-out', p('apiserver.csr'), '-subj', '/CN=kube-apiserver']);
  writeFileSync(p('apiserver.ext'), [
    'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc',
    'extendedKeyUsage=serverAuth',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    '',
  ].join('\n'));
  openssl(['x509', '-req', '-in', p('apiserver.csr'), '-CA', paths.caCert, '-CAkey', p('ca.key'),
    '-CAcreateserial', '-out', paths.serverCert, '-days', '3650', '-extfile', p('apiserver.ext')]);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', paths.serviceAccountKey]);
  openssl(['ec', '-in', paths.serviceAccountKey, '-pubout', '-out', paths.serviceAccountPub]);
  return paths;
}
