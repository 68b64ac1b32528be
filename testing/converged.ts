/**
 * The invariant every fault test ends with: within a bounded time after the
 * faults stop (and with writes stopped), a cache's set of (namespace, name,
 * uid, resourceVersion) equals a fresh quorum list from the apiserver — no
 * lost create, no ghost left by a lost delete, no stale version.
 */
import type { KubeObject, ListWatch, Store } from 'kubereflect';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a comparison of a cache with the server found. */
export interface InvariantResult {
  /** The cache holds exactly what the server lists. */
  ok: boolean;
  /** Objects in the cache. */
  store: number;
  /** Objects the server lists. */
  truth: number;
  /** In the apiserver, not in the store (lost creates). */
  missing: string[];
  /** In the store, not in the apiserver (lost deletes). */
  ghosts: string[];
  /** In both, with another uid or resourceVersion (lost updates). */
  stale: string[];
  /** How long the store took to match. */
  waitedMs: number;
}

const identity = (o: KubeObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;
const version = (o: KubeObject) => `${o.metadata?.uid}@${o.metadata?.resourceVersion}`;

/** A quorum read of every object (no resourceVersion: the apiserver reads etcd), page by page. */
export async function quorumList<K extends KubeObject>(api: ListWatch<K>): Promise<K[]> {
  const items: K[] = [];
  let token: string | undefined;
  do {
    const page = await api.list({ limit: 500, continue: token });
    items.push(...page.items);
    token = page.metadata.continue || undefined;
  } while (token);
  return items;
}

/** Compares the store with a fresh quorum list once. */
export async function compare<K extends KubeObject>(reader: Store<K>, truthApi: ListWatch<K>): Promise<Omit<InvariantResult, 'waitedMs'>> {
  const truth = new Map((await quorumList(truthApi)).map((o) => [identity(o), version(o)]));
  const held = new Map(reader.state().map((o) => [identity(o as KubeObject), version(o as KubeObject)]));
  const missing = [...truth.keys()].filter((k) => !held.has(k));
  const ghosts = [...held.keys()].filter((k) => !truth.has(k));
  const stale = [...truth].filter(([k, v]) => held.has(k) && held.get(k) !== v).map(([k]) => k);
  const ok = missing.length === 0 && ghosts.length === 0 && stale.length === 0 && reader.size === held.size;
  return { ok, store: reader.size, truth: truth.size, missing, ghosts, stale };
}

/**
 * The invariant: within `timeoutMs` after the faults stop (and with writes
 * stopped), the store's set of (namespace, name, uid, resourceVersion) equals
 * a fresh quorum list. Polls; returns the last comparison.
 */
export async function converges<K extends KubeObject>(reader: Store<K>, truthApi: ListWatch<K>, timeoutMs = 20_000): Promise<InvariantResult> {
  const started = Date.now();
  for (;;) {
    const r = await compare(reader, truthApi);
    const waitedMs = Date.now() - started;
    if (r.ok || waitedMs > timeoutMs) return { ...r, waitedMs };
    await sleep(100);
  }
}

/** One line for a comparison: `ok (…)`, or what was missing, left behind or stale, with a few examples. */
export function describeInvariant(r: InvariantResult): string {
  if (r.ok) return `ok (${r.store} objects, matched after ${r.waitedMs} ms)`;
  const few = (xs: string[]) => `${xs.length}${xs.length ? ` e.g. ${xs.slice(0, 3).join(', ')}` : ''}`;
  return `FAILED: store ${r.store}, truth ${r.truth}; missing ${few(r.missing)}; ghosts ${few(r.ghosts)}; stale ${few(r.stale)}`;
}
