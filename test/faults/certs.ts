/**
 * Certificates for the TLS-verification checks, made with openssl (which the
 * control plane needs anyway): a server certificate from a CA nobody trusts,
 * and one from the plane's own CA for a name that is not 127.0.0.1.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ServerCert {
  cert: Buffer;
  key: Buffer;
}

function openssl(cwd: string, args: string[]): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.error?.message ?? r.stderr}`);
}

/** A serving certificate for `san`, signed by the CA in `caCert`/`caKey`. */
function signed(dir: string, caCert: string, caKey: string, san: string): ServerCert {
  writeFileSync(
    join(dir, 'server.ext'),
    `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`,
  );
  openssl(dir, [
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=not-the-apiserver',
  ]);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    caCert,
    '-CAkey',
    caKey,
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    'server.crt',
    '-extfile',
    'server.ext',
  ]);
  return { cert: readFileSync(join(dir, 'server.crt')), key: readFileSync(join(dir, 'server.key')) };
}

/** For 127.0.0.1, from a CA of its own: a kubeconfig with the plane's CA must refuse it. */
export function untrustedCert(): ServerCert {
  const dir = mkdtempSync(join(tmpdir(), 'kubereflect-rogue-ca-'));
  try {
    openssl(dir, [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=rogue-ca',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return signed(dir, 'ca.crt', 'ca.key', 'IP:127.0.0.1');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** From the plane's CA, for `wrong.example` only: trusted, but not for 127.0.0.1. */
export function wrongNameCert(pkiDir: string): ServerCert {
  const dir = mkdtempSync(join(tmpdir(), 'kubereflect-wrong-name-'));
  try {
    return signed(dir, join(pkiDir, 'ca.crt'), join(pkiDir, 'ca.key'), 'DNS:wrong.example');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
