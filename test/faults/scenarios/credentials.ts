/**
 * Scenario 5: credentials.
 *
 * - `execRotation`: the reflector authenticates through an exec credential
 *   plugin (a small node script written here). Its first credential is a
 *   token the apiserver does not know, announced as valid for an hour — a
 *   revoked or rotated token, as a plugin with a stale cache would hand out:
 *   the apiserver answers 401 and the client must drop that credential and
 *   ask the plugin again. Later credentials are valid tokens that expire
 *   every 2 s, so the plugin keeps being asked while the watch carries on
 *   under churn. The apiserver is a second one whose token file lists the
 *   valid tokens.
 * - `forbidden`: the `viewer` user watches configmaps, which RBAC forbids:
 *   a typed 403 per try, one try per backoff step.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { Api } from '../../../runtime/client/api.ts';
import { sleep } from '../../../runtime/core/backoff.ts';
import { ApiError } from '../../../runtime/core/errors.ts';
import type { KubeObject } from '../../../runtime/core/types.ts';
import type { ExtraApiserver } from '../../controlplane/plane.ts';
import { Churn, configMaps, converges, type ConfigMap } from '../harness.ts';
import type { Lab, ScenarioReport } from '../lab.ts';
import { report, scenarioNamespace, subjectThrough } from './common.ts';

/** Tokens for the rotation: `valid` go into the second apiserver's token file; `revoked` never does. */
export interface RotationTokens {
  revoked: string;
  valid: string[];
}

export function rotationTokens(n = 20): RotationTokens {
  return { revoked: randomBytes(20).toString('hex'), valid: Array.from({ length: n }, () => randomBytes(20).toString('hex')) };
}

/** A token file with the plane's users plus `rotator` (system:masters) for each valid token. */
export function tokenFileWith(lab: Lab, tokens: RotationTokens, dir: string): string {
  const path = join(dir, 'tokens.csv');
  const plane = readFileSync(join(lab.plane.pkiDir, '..', 'tokens.csv'), 'utf8');
  writeFileSync(path, plane + tokens.valid.map((t, i) => `${t},rotator,rotator-uid-${i},"system:masters"\n`).join(''), { mode: 0o600 });
  return path;
}

const PLUGIN = `
import { readFileSync, writeFileSync } from 'node:fs';
const dir = process.argv[2];
const tokens = JSON.parse(readFileSync(dir + '/plugin-tokens.json', 'utf8'));
let n = 0;
try { n = Number(readFileSync(dir + '/calls', 'utf8')); } catch {}
writeFileSync(dir + '/calls', String(n + 1));
const token = n === 0 ? tokens.revoked : tokens.valid[(n - 1) % tokens.valid.length];
const seconds = n === 0 ? 3600 : 2;
process.stdout.write(JSON.stringify({
  apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential',
  status: { token, expirationTimestamp: new Date(Date.now() + seconds * 1000).toISOString() },
}));
`;

/** Writes the plugin and a kubeconfig whose context `rotator` runs it. */
function pluginKubeconfig(from: string, dir: string, tokens: RotationTokens): string {
  writeFileSync(join(dir, 'plugin.mjs'), PLUGIN);
  writeFileSync(join(dir, 'plugin-tokens.json'), JSON.stringify(tokens), { mode: 0o600 });
  const config = parse(readFileSync(from, 'utf8')) as Record<string, any>;
  config.users.push({
    name: 'rotator',
    user: {
      exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: [join(dir, 'plugin.mjs'), dir], interactiveMode: 'Never' },
    },
  });
  config.contexts.push({ name: 'rotator', context: { cluster: config.clusters[0].name, user: 'rotator' } });
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, stringify(config), { mode: 0o600 });
  return path;
}

export async function execRotation(
  lab: Lab,
  extra: ExtraApiserver,
  tokens: RotationTokens,
  o: { fixedNamespace?: string; seconds?: number } = {},
): Promise<ScenarioReport> {
  const ns = await scenarioNamespace(lab, o.fixedNamespace ?? 'faults-exec', !!o.fixedNamespace);
  const truth = new Api<ConfigMap>(lab.admin, configMaps, ns);
  const dir = mkdtempSync(join(tmpdir(), 'kubereflect-exec-'));
  for (const t of [tokens.revoked, ...tokens.valid]) lab.secrets.add('exec credential', t);
  const proxy = await lab.proxy(extra.port);
  const kubeconfig = proxy.kubeconfig(pluginKubeconfig(lab.plane.kubeconfig, dir, tokens));
  const churn = new Churn(truth as Api<KubeObject>, { perSecond: 30, target: 80, payloadBytes: 200 }).start();
  // Watches of 1 s: each re-watch is a request that may carry a refreshed token.
  const subject = subjectThrough(lab, proxy, ns, { timeoutSeconds: 1 }, { context: 'rotator', kubeconfig });
  const calls = () => Number(readFileSync(join(dir, 'calls'), 'utf8'));
  try {
    await subject.waitUntil(() => subject.reader.isReady(), 20_000, 'a list after the 401');
    await sleep((o.seconds ?? 5) * 1000);
  } finally {
    await churn.stop();
  }
  const invariant = await converges(subject.reader, truth);
  await subject.stop();
  await lab.dropProxy(proxy);
  const pluginCalls = calls();
  rmSync(dir, { recursive: true, force: true });
  return report('5a. exec credential: 401, refresh, rotation', lab, subject, {
    faults: { 'revoked token (401)': proxy.count((r) => r.status === 401), 'token expiry (2 s)': Math.max(0, pluginCalls - 2) },
    requests: proxy.requests.length,
    writes: churn.writes,
    invariant,
    details: {
      pluginCalls,
      status401: proxy.count((r) => r.status === 401),
      tokensAccepted: new Set(proxy.requests.filter((r) => r.status === 200).map((r) => r.auth)).size,
      unauthorizedErrors: subject.errorsOf((e) => e instanceof ApiError && e.statusCode === 401).length,
    },
  });
}

export async function forbidden(lab: Lab, o: { seconds?: number } = {}): Promise<ScenarioReport> {
  const seconds = o.seconds ?? 3;
  const proxy = await lab.proxy();
  const subject = subjectThrough(lab, proxy, 'team-a', {}, { context: 'viewer' });
  await sleep(seconds * 1000);
  await subject.stop();
  await lab.dropProxy(proxy);
  const invariant = {
    ok: !subject.reader.isReady() && subject.reader.size === 0,
    store: subject.reader.size,
    truth: 0,
    missing: [],
    ghosts: [],
    stale: [],
    waitedMs: 0,
  };
  return report('5b. viewer forbidden (403)', lab, subject, {
    faults: { '403 Forbidden (RBAC)': proxy.count((r) => r.status === 403) },
    requests: proxy.requests.length,
    writes: 0,
    invariant,
    details: {
      seconds,
      forbiddenErrors: subject.errorsOf((e) => e instanceof ApiError && e.statusCode === 403 && e.reason === 'Forbidden').length,
      ready: subject.reader.isReady(),
    },
  });
}
