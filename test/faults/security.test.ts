/**
 * The security checks of the fault suite, and the process-exit check:
 * TLS verification against a proxy with a wrong certificate in front of the
 * real apiserver, objects named after `Object.prototype` members, and a
 * process whose reflectors were stopped mid-request, mid-watch and
 * mid-backoff exiting by itself. (No credential in any output is checked by
 * every fault test file; see `suite.ts` and the scenario reports.)
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../controlplane/plane.ts';
import { PROTOTYPE_NAMES, prototypeNames, tlsVerification } from './scenarios/security.ts';
import { faultSuite } from './suite.ts';

const suite = faultSuite();

describe('security', () => {
  it('keeps TLS verification on: a wrong certificate is refused before any request, unless the kubeconfig says otherwise', async () => {
    const r = await tlsVerification(suite.lab);
    const { untrusted, untrustedWithKey, skipVerify, otherName, serverName } = r.cases;
    console.info(JSON.stringify({ ...r, cases: Object.fromEntries(Object.entries(r.cases).map(([k, c]) => [k, { ...c, errors: c.errors.slice(0, 1) }])) }));
    expect(untrusted.ready).toBe(false);
    expect(untrusted.httpRequests).toBe(0);
    expect(untrusted.errors.length).toBeGreaterThanOrEqual(2);
    expect(
      untrusted.errorCodes.every((c) => ['SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'DEPTH_ZERO_SELF_SIGNED_CERT'].includes(c)),
      untrusted.errorCodes.join(),
    ).toBe(true);
    expect(untrustedWithKey.ready).toBe(false);
    expect(untrustedWithKey.httpRequests).toBe(0);
    // The same refusal with a client key; how many retries fit in the window depends on the machine's load, so compare the common part.
    const common = Math.min(untrusted.errorCodes.length, untrustedWithKey.errorCodes.length);
    expect(common).toBeGreaterThanOrEqual(2);
    expect(untrustedWithKey.errorCodes.slice(0, common)).toEqual(untrusted.errorCodes.slice(0, common));
    expect(untrusted.errors[0]).toMatch(/^GET \/api\/v1\/namespaces\/faults-tls-\w+\/configmaps\?limit=10: \w+: .*certificate/);
    expect(otherName.ready).toBe(false);
    expect(otherName.httpRequests).toBe(0);
    expect(
      otherName.errorCodes.every((c) => c === 'ERR_TLS_CERT_ALTNAME_INVALID'),
      otherName.errorCodes.join(),
    ).toBe(true);
    expect(otherName.errors[0]).toContain("Hostname/IP does not match certificate's altnames");
    for (const ok of [skipVerify, serverName]) {
      expect(ok.ready).toBe(true);
      expect(ok.errors).toEqual([]);
      expect(ok.invariant?.ok).toBe(true);
    }
    expect(r.leaks).toEqual([]);
  });

  it(`caches and finds objects named ${PROTOTYPE_NAMES.join(', ')} and changes no prototype`, async () => {
    const r = await prototypeNames(suite.lab);
    console.info(JSON.stringify(r));
    expect(r.details).toEqual({
      rolesFoundByName: true,
      dataKeysAreOwnData: true,
      labelSelectorsMatchOwnKeysOnly: true,
      deletedAndRecreated: true,
      prototypeUnchanged: true,
      streamViewMatchesStore: true,
      finalStateUnknownDeletes: 0,
    });
    expect(r.invariant.ok, JSON.stringify(r.invariant)).toBe(true);
    expect(r.details.streamViewMatchesStore, 'a consumer of the stream ends with the store').toBe(true);
    expect(r.duplicates).toBe(0);
    expect(r.leaks).toEqual([]);
  });
});

describe('stopping', () => {
  it('lets the process exit once its reflectors are stopped, whether mid-watch, mid-request, on a silent watch or mid-backoff', async () => {
    const lab = suite.lab;
    const ns = await lab.namespace('faults-exit');
    const ok = await lab.proxy();
    const stall = await lab.proxy();
    stall.rule = () => ({ type: 'stall' });
    const silent = await lab.proxy();
    silent.rule = (r) => (r.watch ? { type: 'stall', afterBytes: 0 } : undefined);
    const refusedPort = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    const kc = lab.plane.kubeconfig;
    const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/faults/exit-child.ts')], {
      cwd: repoRoot,
      env: {
        ...process.env,
        KR_NS: ns,
        KR_ADMIN: kc,
        KR_OK: ok.kubeconfig(kc),
        KR_STALL: stall.kubeconfig(kc),
        KR_SILENT: silent.kubeconfig(kc),
        KR_REFUSED: `${kc}-refused-${refusedPort}`,
        KR_REFUSED_PORT: String(refusedPort),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
    const killer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    const [code, signal] = await exited;
    clearTimeout(killer);
    expect(out).toContain('STOPPED');
    expect(out).not.toContain('STILL ALIVE');
    expect({ code, signal }, out).toEqual({ code: 0, signal: null });
    // The stalled and silent requests really were in flight when the child stopped.
    expect(stall.count()).toBeGreaterThanOrEqual(1);
    expect(silent.count((r) => r.watch)).toBeGreaterThanOrEqual(1);
    expect(lab.secrets.leaks([out])).toEqual([]);
    rmSync(`${kc}-refused-${refusedPort}`, { force: true });
  });
});
