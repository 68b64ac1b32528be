/**
 * The churn driver: creates, updates and deletes objects of one namespace at
 * a steady rate while faults happen, so that every fault meets a stream of
 * real events (and deletes to lose).
 */
import type { Api } from '../../runtime/client/api.ts';
import { sleep } from '../../runtime/core/backoff.ts';
import type { KubeObject } from '../../runtime/core/types.ts';
import type { ConfigMap } from './harness.ts';
import { quorumList } from '../../testing/converged.ts';

export interface ChurnOptions {
  /** Writes per second (sequential; slower if the apiserver is slower). */
  perSecond?: number;
  /** About how many objects to keep alive. */
  target?: number;
  /** Name prefix of the objects. */
  prefix?: string;
  /** Size of each object's payload, bytes. */
  payloadBytes?: number;
  /** Make the object for a name (default: a ConfigMap with the payload). */
  make?: (name: string, payload: string) => KubeObject;
  /** Change an object (default: a merge patch of `data.v`). */
  update?: (api: Api<KubeObject>, name: string, n: number) => Promise<unknown>;
}

/** Creates, updates and deletes objects at a steady rate until stopped. Failures are counted, never thrown. */
export class Churn {
  readonly stats = { creates: 0, updates: 0, deletes: 0, failures: 0 };
  private readonly live = new Set<string>();
  private running = false;
  private loop: Promise<void> = Promise.resolve();
  private seq = 0;
  private readonly o: Required<Omit<ChurnOptions, 'make' | 'update'>> & ChurnOptions;

  constructor(
    private readonly api: Api<KubeObject>,
    opts: ChurnOptions = {},
  ) {
    this.o = { perSecond: 40, target: 40, prefix: 'churn', payloadBytes: 64, ...opts };
  }

  get writes(): number {
    return this.stats.creates + this.stats.updates + this.stats.deletes;
  }

  start(): this {
    if (this.running) return this;
    this.running = true;
    this.loop = (async () => {
      for (const o of await quorumList(this.api).catch(() => [])) if (o.metadata?.name?.startsWith(`${this.o.prefix}-`)) this.live.add(o.metadata.name);
      while (this.running) {
        const t = Date.now();
        await this.once();
        await sleep(Math.max(0, 1000 / this.o.perSecond - (Date.now() - t)));
      }
    })();
    return this;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** One write: create while below target, otherwise update, create or delete at random. */
  async once(): Promise<void> {
    const names = [...this.live];
    const r = Math.random();
    const pick = () => names[Math.floor(Math.random() * names.length)]!;
    try {
      if (names.length < this.o.target / 2 || (r < 0.3 && names.length < this.o.target * 1.5)) {
        const name = `${this.o.prefix}-${Date.now().toString(36)}-${(this.seq++).toString(36)}`;
        const payload = 'x'.repeat(this.o.payloadBytes);
        await this.api.create(this.o.make ? this.o.make(name, payload) : ({ metadata: { name }, data: { payload, v: '0' } } as ConfigMap));
        this.live.add(name);
        this.stats.creates++;
      } else if (r < 0.7) {
        const name = pick();
        const n = this.seq++;
        await (this.o.update ? this.o.update(this.api, name, n) : this.api.patch(name, { type: 'merge', body: { data: { v: String(n) } } as never }));
        this.stats.updates++;
      } else {
        const name = pick();
        this.live.delete(name);
        await this.api.delete(name);
        this.stats.deletes++;
      }
    } catch {
      this.stats.failures++;
    }
  }
}
