/**
 * The lab a fault scenario runs in: the local plane, an admin client straight
 * to the apiserver (the truth, and the churn's writer), fault proxies, and
 * the secrets no output may contain. One per test file or soak run; `close`
 * releases everything it opened.
 */
import { randomBytes } from 'node:crypto';
import { Api } from '../../runtime/client/api.ts';
import type { Client } from '../../runtime/client/client.ts';
import type { KubeObject, ResourceDescriptor } from '../../runtime/core/types.ts';
import type { PlaneState } from '../controlplane/plane.ts';
import { closeClients, openClient, plane, Secrets, type InvariantResult } from './harness.ts';
import { FaultProxy } from '../../testing/proxy.ts';

const namespaces: ResourceDescriptor = { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false };

/** What one run of a scenario did; the tests assert on it and the soak adds it up. */
export interface ScenarioReport {
  scenario: string;
  /** Faults injected, by kind. */
  faults: Record<string, number>;
  /** Object events (InitApply, Apply, Delete) the reflectors under test processed. */
  events: number;
  /** `Error` events, by error class (and HTTP code for an ApiError). */
  errors: Record<string, number>;
  /** Requests the reflectors under test sent. */
  requests: number;
  /** Writes the churn driver made. */
  writes: number;
  /** Relists (Init after the first), and the 410s that asked for them. */
  relists: number;
  expired: number;
  /** Replayed or impossible events seen by the audit (must be 0). */
  duplicates: number;
  invariant: InvariantResult;
  /** Secrets found in captured output (must be empty). */
  leaks: string[];
  /** Scenario-specific numbers and facts. */
  details: Record<string, unknown>;
}

export class Lab {
  readonly plane = plane();
  readonly secrets = Secrets.ofPlane(this.plane);
  /** Admin, straight to the main apiserver. */
  readonly admin: Client = openClient(this.plane.kubeconfig, 'admin');
  private readonly proxies = new Set<FaultProxy>();
  private readonly cleanups: (() => Promise<void> | void)[] = [];

  /** A namespace with a random suffix, or the fixed `name` when given (the soak reuses its namespaces). */
  async namespace(prefix: string, fixed = false): Promise<string> {
    const name = fixed ? prefix : `${prefix}-${randomBytes(4).toString('hex')}`;
    const api = new Api<KubeObject>(this.admin, namespaces);
    if (!fixed || !(await api.getIfExists(name))) {
      await api.create({ metadata: { name, labels: { 'kubereflect.dev/test': 'faults' } } });
    }
    return name;
  }

  /** A fault proxy in front of the apiserver on `upstreamPort` (default: the main one). */
  async proxy(upstreamPort = this.plane.apiserverPort, serverCert?: { cert: Buffer; key: Buffer }): Promise<FaultProxy> {
    const p = await FaultProxy.start({ upstreamPort, pkiDir: this.plane.pkiDir, serverCert });
    this.proxies.add(p);
    return p;
  }

  async dropProxy(p: FaultProxy): Promise<void> {
    this.proxies.delete(p);
    await p.close();
  }

  /** Closes every proxy but `keep` (after a failed scenario run). */
  async dropProxiesExcept(keep: FaultProxy[]): Promise<void> {
    for (const p of [...this.proxies]) if (!keep.includes(p)) await this.dropProxy(p);
  }

  /** Runs `fn` at `close`, last registered first. */
  onClose(fn: () => Promise<void> | void): void {
    this.cleanups.unshift(fn);
  }

  async close(): Promise<void> {
    for (const fn of this.cleanups.splice(0)) await fn();
    for (const p of this.proxies) await p.close();
    this.proxies.clear();
    closeClients();
  }
}

export type { PlaneState };
