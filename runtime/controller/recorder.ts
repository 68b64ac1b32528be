/**
 * An event recorder for `events.k8s.io/v1`: what a controller did to an
 * object, as `kubectl events` and `kubectl describe` show it.
 *
 * Repeats aggregate, as client-go's new event library does: the same event
 * (same object, type, reason, action, note) within `windowMs` (default six
 * minutes) is not written again but counted into the first one's `series`
 * — the first repeat at once (`count: 2`), later ones at most once per
 * `seriesFlushMs` (default 30 s) per event, so a reconcile that fails in a
 * loop costs one write per interval, not one per attempt.
 *
 * Recording is best effort: a failed write is logged (never thrown), so an
 * event can never fail a reconcile. Call `flush()` before exiting to write
 * pending series counts.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { Api } from '../client/api.ts';
import type { Client } from '../client/client.ts';
import { ApiError } from '../core/errors.ts';
import { consoleLogger, type Logger } from '../core/logger.ts';
import type { ObjectRef } from '../core/object-ref.ts';
import type { KubeObject, ResourceDescriptor } from '../core/types.ts';

/** One event to record about an object. */
export interface EventSpec {
  /** `Normal`, or `Warning` for something that went wrong. */
  type: 'Normal' | 'Warning';
  /** Why, in CamelCase: `ConfigMapCreated`, `ReconcileFailed`. */
  reason: string;
  /** What the controller did or failed to do, in CamelCase: `Create`, `Reconcile`. */
  action: string;
  /** A human-readable sentence (at most 1 KiB; longer notes are cut). */
  note?: string;
  /** A second object involved (e.g. the child created). */
  related?: ObjectRef<KubeObject>;
}

/** Options of a `Recorder`. */
export interface RecorderOptions {
  /** The controller's name in `reportingController`, e.g. `demo.kubereflect.dev/widget-operator`. */
  reportingController: string;
  /** This process, in `reportingInstance` (default `<reportingController>-<hostname>`, cut to 128 characters). */
  reportingInstance?: string;
  /** Repeats within this long join the first event's series, ms (default 360,000: six minutes). */
  windowMs?: number;
  /** After the first repeat, series counts are written at most this often per event, ms (default 30,000). */
  seriesFlushMs?: number;
  /** Events remembered for aggregation, at most (default 4,096; the oldest is forgotten first). */
  maxEvents?: number;
  /** Failed writes are logged here (default `consoleLogger`). */
  logger?: Logger;
}

/** The `events.k8s.io/v1` Event fields the recorder writes. */
interface EventObject extends KubeObject {
  eventTime: string;
  reportingController: string;
  reportingInstance: string;
  action: string;
  reason: string;
  type: string;
  note?: string;
  regarding: ObjectReference;
  related?: ObjectReference;
  series?: { count: number; lastObservedTime: string };
}

interface ObjectReference {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
}

interface Recorded {
  name: string;
  namespace: string;
  lastObserved: number;
  count: number;
  written: number;
  timer: NodeJS.Timeout | undefined;
  /** The write in progress, so that a flush waits for it. */
  writing: Promise<void> | undefined;
  /** What to create again if the event went away (expired) before a series update. */
  body: EventObject;
}

const EVENTS: ResourceDescriptor = { group: 'events.k8s.io', version: 'v1', kind: 'Event', plural: 'events', namespaced: true };

/**
 * Records `events.k8s.io/v1` events about objects, aggregating repeats into series.
 *
 * @example
 * const recorder = new Recorder(client, { reportingController: 'demo.kubereflect.dev/widget-operator' });
 * await recorder.publish(Widget.refFrom(widget), { type: 'Normal', reason: 'ConfigMapCreated', action: 'Create', note: `created ConfigMap ${name}` });
 */
export class Recorder {
  private readonly api: Api<EventObject>;
  private readonly recorded = new Map<string, Recorded>();
  private readonly instance: string;
  private readonly windowMs: number;
  private readonly seriesFlushMs: number;
  private readonly maxEvents: number;
  private readonly logger: Logger;

  /** A recorder writing through `client`. */
  constructor(
    client: Client,
    private readonly opts: RecorderOptions,
  ) {
    this.api = new Api<EventObject>(client, EVENTS);
    this.instance = (opts.reportingInstance ?? `${opts.reportingController}-${hostname()}`).slice(0, 128);
    this.windowMs = opts.windowMs ?? 360_000;
    this.seriesFlushMs = opts.seriesFlushMs ?? 30_000;
    this.maxEvents = opts.maxEvents ?? 4096;
    this.logger = opts.logger ?? consoleLogger;
  }

  /**
   * Records `event` about `regarding` (a reference with the object's uid,
   * e.g. `Widget.refFrom(widget)`): a new Event, or one more in the series
   * of the same event recorded within the window. Resolves once written (a
   * repeat may only be counted, to be written later); never rejects.
   */
  async publish(regarding: ObjectRef<KubeObject>, event: EventSpec): Promise<void> {
    const key = JSON.stringify([
      regarding.toString(),
      regarding.uid,
      event.type,
      event.reason,
      event.action,
      event.note ?? '',
      event.related?.toString() ?? '',
    ]);
    const now = Date.now();
    const known = this.recorded.get(key);
    if (known && now - known.lastObserved < this.windowMs) {
      known.count++;
      known.lastObserved = now;
      if (known.written < 2) return this.writeSeries(key, known);
      known.timer ??= setTimeout(() => void this.writeSeries(key, known), this.seriesFlushMs);
      return;
    }
    if (known) this.forget(key, known);
    const namespace = regarding.namespace ?? 'default';
    const body: EventObject = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name: `${regarding.name}.${randomBytes(8).toString('hex')}`, namespace },
      eventTime: microTime(now),
      reportingController: this.opts.reportingController,
      reportingInstance: this.instance,
      action: event.action,
      reason: event.reason,
      type: event.type,
      ...(event.note ? { note: cut(event.note, 1024) } : {}),
      regarding: reference(regarding),
      ...(event.related ? { related: reference(event.related) } : {}),
    };
    const entry: Recorded = { name: body.metadata!.name!, namespace, lastObserved: now, count: 1, written: 1, timer: undefined, writing: undefined, body };
    this.recorded.set(key, entry);
    if (this.recorded.size > this.maxEvents) {
      const [oldest, value] = this.recorded.entries().next().value!;
      this.forget(oldest, value);
    }
    entry.writing = this.create(body);
    await entry.writing;
  }

  /** Writes every pending series count now. */
  async flush(): Promise<void> {
    const pending = [...this.recorded].filter(([, r]) => r.count > r.written || r.writing);
    await Promise.all(pending.map(([key, r]) => (r.count > r.written ? this.writeSeries(key, r) : r.writing)));
  }

  /** Stops the series timers (after `flush()`, if counts should not be lost). */
  close(): void {
    for (const r of this.recorded.values()) clearTimeout(r.timer);
    this.recorded.clear();
  }

  private async writeSeries(key: string, r: Recorded): Promise<void> {
    clearTimeout(r.timer);
    r.timer = undefined;
    await r.writing;
    if (r.count <= r.written) return;
    const count = r.count;
    const series = { count, lastObservedTime: microTime(r.lastObserved) };
    r.writing = (async () => {
      try {
        await this.api.patch(r.name, { type: 'merge', body: { series } }, { namespace: r.namespace });
      } catch (err) {
        if (err instanceof ApiError && err.statusCode === 404) {
          // The event expired (the apiserver keeps events an hour by default): start a new one.
          r.name = `${r.body.regarding.name}.${randomBytes(8).toString('hex')}`;
          r.body = { ...r.body, metadata: { ...r.body.metadata, name: r.name }, eventTime: microTime(Date.now()) };
          return this.create(r.body);
        }
        this.logger.warn(`kubereflect: could not update the series of event ${r.namespace}/${r.name} (${this.recordedReason(key)}): ${(err as Error).message}`);
      }
    })();
    await r.writing;
    r.written = Math.max(r.written, count);
  }

  private async create(body: EventObject): Promise<void> {
    try {
      await this.api.create(body);
    } catch (err) {
      this.logger.warn(
        `kubereflect: could not record event ${body.reason} about ${body.regarding.kind} ${body.regarding.namespace ?? ''}/${body.regarding.name}: ${(err as Error).message}`,
      );
    }
  }

  private forget(key: string, r: Recorded): void {
    clearTimeout(r.timer);
    this.recorded.delete(key);
  }

  private recordedReason(key: string): string {
    return (JSON.parse(key) as string[])[3] ?? '';
  }
}

function reference(ref: ObjectRef<KubeObject>): ObjectReference {
  return {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    name: ref.name,
    ...(ref.namespace ? { namespace: ref.namespace } : {}),
    ...(ref.uid ? { uid: ref.uid } : {}),
    ...(ref.resourceVersion ? { resourceVersion: ref.resourceVersion } : {}),
  };
}

/** RFC 3339 with microseconds, as `metav1.MicroTime` is written. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/(\.\d{3})Z$/, '$1000Z');
}

function cut(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return text;
  // Cut on a character boundary.
  return `${new TextDecoder().decode(bytes.subarray(0, maxBytes - 3)).replace(/\uFFFD$/, '')}...`;
}
