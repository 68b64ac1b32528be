/**
 * Security checks against the real apiserver.
 *
 * - `tlsVerification`: the proxy presents a certificate from a CA the
 *   kubeconfig does not trust, then a trusted one for another name. The
 *   client must refuse both with a TLS error, before any HTTP request (and so
 *   any token) reaches that server — and connect once the kubeconfig says
 *   `insecure-skip-tls-verify`, or names the certificate's `tls-server-name`.
 * - `prototypeNames`: Roles named `__proto__`, `constructor`,
 *   `hasOwnProperty`, `toString` and `valueOf` (RBAC names need only be path
 *   segments), and a ConfigMap with such data keys and label keys, are cached
 *   and found like any other, through a relist too, and change no prototype.
 */
import { Api } from '../../../runtime/client/api.ts';
import { sleep } from '../../../runtime/core/backoff.ts';
import { TransportError } from '../../../runtime/core/errors.ts';
import type { KubeObject, ResourceDescriptor } from '../../../runtime/core/types.ts';
import { untrustedCert, wrongNameCert } from '../certs.ts';
import { configMaps, converges, openClient, Subject, type ConfigMap, type InvariantResult } from '../harness.ts';
import type { Lab, ScenarioReport } from '../lab.ts';
import { fastBackoff, report, subjectThrough } from './common.ts';

/** What one TLS case showed. */
export interface TlsCase {
  errors: string[];
  errorCodes: string[];
  /** HTTP requests that reached the proxy (none may, when verification fails). */
  httpRequests: number;
  ready: boolean;
  invariant?: InvariantResult;
}

async function tlsCase(
  lab: Lab,
  serverCert: { cert: Buffer; key: Buffer },
  ns: string,
  edit: (cluster: Record<string, any>) => void,
  seconds: number,
  context = 'admin',
): Promise<TlsCase & { subject: Subject<ConfigMap> }> {
  const proxy = await lab.proxy(lab.plane.apiserverPort, serverCert);
  const kubeconfig = proxy.kubeconfig(lab.plane.kubeconfig, (c) => c.clusters.forEach((x) => edit(x.cluster as Record<string, any>)));
  const subject = subjectThrough(lab, proxy, ns, {}, { kubeconfig, context });
  await sleep(seconds * 1000);
  const ready = subject.reader.isReady();
  const invariant = ready ? await converges(subject.reader, new Api<ConfigMap>(lab.admin, configMaps, ns)) : undefined;
  await subject.stop();
  await lab.dropProxy(proxy);
  return {
    subject,
    errors: subject.errors.map((e) => e.message),
    errorCodes: subject.errors.map((e) => (e instanceof TransportError ? String((e.cause as { code?: string })?.code) : e.name)),
    httpRequests: proxy.requests.length,
    ready,
    invariant,
  };
}

type TlsCases = Record<'untrusted' | 'untrustedWithKey' | 'skipVerify' | 'otherName' | 'serverName', TlsCase>;

export async function tlsVerification(lab: Lab, o: { seconds?: number } = {}): Promise<ScenarioReport & { cases: TlsCases }> {
  const seconds = o.seconds ?? 1.5;
  const ns = await lab.namespace('faults-tls');
  await new Api<ConfigMap>(lab.admin, configMaps, ns).create({ metadata: { name: 'hello' } });
  const rogue = untrustedCert();
  const wrongName = wrongNameCert(lab.plane.pkiDir);
  const untrusted = await tlsCase(lab, rogue, ns, () => {}, seconds);
  // The same with a client certificate and key (the cert-admin user): the key is loaded, and must show nowhere either.
  const untrustedWithKey = await tlsCase(lab, rogue, ns, () => {}, seconds, 'cert-admin');
  const skipVerify = await tlsCase(
    lab,
    rogue,
    ns,
    (c) => {
      delete c['certificate-authority-data'];
      c['insecure-skip-tls-verify'] = true;
    },
    seconds,
  );
  const otherName = await tlsCase(lab, wrongName, ns, () => {}, seconds);
  const serverName = await tlsCase(lab, wrongName, ns, (c) => (c['tls-server-name'] = 'wrong.example'), seconds);
  const cases = { untrusted, untrustedWithKey, skipVerify, otherName, serverName };
  const strip = ({ subject: _, ...c }: TlsCase & { subject: unknown }) => c;
  const all = Object.values(cases);
  return {
    ...report('security: TLS verification', lab, untrusted.subject, {
      faults: { 'certificate from an untrusted CA': 3, 'certificate for another name': 2 },
      requests: all.reduce((n, c) => n + c.httpRequests, 0),
      writes: 1,
      invariant: skipVerify.invariant ?? { ok: false, store: 0, truth: 0, missing: [], ghosts: [], stale: [], waitedMs: 0 },
      texts: all.flatMap((c) => c.subject.texts()),
    }),
    cases: {
      untrusted: strip(untrusted),
      untrustedWithKey: strip(untrustedWithKey),
      skipVerify: strip(skipVerify),
      otherName: strip(otherName),
      serverName: strip(serverName),
    },
  };
}

const roles: ResourceDescriptor = { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role', plural: 'roles', namespaced: true };
export const PROTOTYPE_NAMES = ['__proto__', 'constructor', 'hasOwnProperty', 'toString', 'valueOf'];

export async function prototypeNames(lab: Lab): Promise<ScenarioReport> {
  const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort().join();
  const ns = await lab.namespace('faults-proto');
  const roleApi = new Api<KubeObject>(lab.admin, roles, ns);
  const cmApi = new Api<ConfigMap>(lab.admin, configMaps, ns);
  for (const name of PROTOTYPE_NAMES) await roleApi.create({ metadata: { name }, rules: [] } as KubeObject);
  const data = Object.fromEntries(PROTOTYPE_NAMES.map((k) => [k, `value of ${k}`]));
  await cmApi.create({ metadata: { name: 'proto-keys', labels: { constructor: 'yes', hasOwnProperty: 'yes' } }, data });
  await cmApi.create({ metadata: { name: 'plain' }, data: { a: 'b' } });

  const proxy = await lab.proxy();
  const client = openClient(proxy.kubeconfig(lab.plane.kubeconfig));
  const roleSubject = new Subject<KubeObject>(new Api<KubeObject>(client, roles, ns), { pageSize: 2, timeoutSeconds: 5, backoff: fastBackoff });
  const cmSubject = new Subject<ConfigMap>(new Api<ConfigMap>(client, configMaps, ns), { timeoutSeconds: 5, backoff: fastBackoff });
  await roleSubject.waitUntil(() => roleSubject.reader.isReady() && cmSubject.reader.isReady(), 20_000, 'both stores');
  const checks: Record<string, boolean> = {};
  const uids = new Map((await roleApi.list()).items.map((r) => [r.metadata!.name!, r.metadata!.uid]));
  const found = () =>
    PROTOTYPE_NAMES.every((name) => {
      const r = roleSubject.reader.get({ name, namespace: ns });
      return r?.metadata?.name === name && r.metadata.uid === uids.get(name) && roleSubject.reader.get(`${ns}/${name}`) === r;
    });
  checks.rolesFoundByName = found() && roleSubject.reader.size === PROTOTYPE_NAMES.length;
  const cm = cmSubject.reader.get({ name: 'proto-keys', namespace: ns });
  checks.dataKeysAreOwnData =
    !!cm?.data &&
    Object.getPrototypeOf(cm.data) === Object.prototype &&
    PROTOTYPE_NAMES.every((k) => Object.hasOwn(cm.data!, k) && (cm.data as Record<string, string>)[k] === `value of ${k}`);
  const names = (sel: string) =>
    cmSubject.reader
      .filter(sel)
      .map((o) => o.metadata?.name)
      .sort()
      .join();
  checks.labelSelectorsMatchOwnKeysOnly =
    names('constructor') === 'proto-keys' &&
    names('!hasOwnProperty') === 'plain' &&
    names('constructor=yes,hasOwnProperty=yes') === 'proto-keys' &&
    names('toString') === '';

  // Delete and recreate `__proto__`, then force a relist-free reconnect: still right.
  await roleApi.delete('__proto__');
  await roleSubject.waitUntil(() => !roleSubject.reader.get({ name: '__proto__', namespace: ns }), 10_000, 'the delete of __proto__');
  const again = await roleApi.create({ metadata: { name: '__proto__' }, rules: [] } as KubeObject);
  uids.set('__proto__', again.metadata!.uid);
  proxy.cutAll();
  await roleSubject.waitUntil(
    () => roleSubject.reader.get({ name: '__proto__', namespace: ns })?.metadata?.uid === again.metadata!.uid,
    10_000,
    'the new __proto__',
  );
  checks.deletedAndRecreated = found();
  const invariant = await converges(roleSubject.reader, roleApi);
  const cmInvariant = await converges(cmSubject.reader, cmApi);
  await roleSubject.stop();
  await cmSubject.stop();
  await lab.dropProxy(proxy);
  checks.prototypeUnchanged =
    Object.getOwnPropertyNames(Object.prototype).sort().join() === prototypeBefore &&
    ({} as Record<string, unknown>).rules === undefined &&
    ({} as Record<string, unknown>).metadata === undefined;
  return report('security: prototype-named objects', lab, roleSubject, {
    faults: { 'objects named after Object.prototype members': PROTOTYPE_NAMES.length + 1 },
    requests: proxy.requests.length,
    writes: PROTOTYPE_NAMES.length + 4,
    invariant: { ...invariant, ok: invariant.ok && cmInvariant.ok },
    texts: cmSubject.texts(),
    details: checks,
  });
}
