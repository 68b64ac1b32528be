/**
 * What every fault scenario checks besides the invariant: that no credential
 * shows up in anything written — logger lines, console output, error
 * messages — and that no promise rejection goes unhandled. Free of vitest,
 * like the rest of the harness.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from '../../runtime/core/logger.ts';
import type { PlaneState } from '../controlplane/plane.ts';

export interface CapturingLogger extends Logger {
  lines: string[];
}
export function capturingLogger(): CapturingLogger {
  const lines: string[] = [];
  const push = (m: string) => void lines.push(m);
  return { lines, debug: push, info: push, warn: push, error: push };
}

const WINDOW = 10;

/** Strings that must never appear in a log line or an error message. */
export class Secrets {
  private readonly values = new Map<string, string>();

  /** The plane's tokens and the client key (PEM lines and the kubeconfig's base64 form). */
  static ofPlane(state: PlaneState & { pkiDir: string }): Secrets {
    const s = new Secrets();
    s.add('admin token', state.adminToken);
    s.add('viewer token', state.viewerToken);
    const pem = readFileSync(`${state.pkiDir}/admin-client.key`, 'utf8');
    s.add('client key (kubeconfig form)', Buffer.from(pem).toString('base64').slice(0, 64));
    pem
      .split('\n')
      .filter((l) => l.length >= 32 && !l.startsWith('-----'))
      .forEach((l, i) => s.add(`client key line ${i}`, l));
    return s;
  }

  add(what: string, value: string): void {
    if (value.length >= 8) this.values.set(value, what);
  }

  /**
   * Which secrets occur in `texts`, whole or in part: any 10 characters of
   * one count (V8 quotes 10 characters of bad JSON in its messages). By name;
   * the values are never returned.
   */
  leaks(texts: Iterable<string>): string[] {
    const found = new Set<string>();
    const unique = [...new Set(texts)];
    for (const [value, what] of this.values) {
      for (let i = 0; i + WINDOW <= value.length && !found.has(what); i++) {
        const piece = value.slice(i, i + WINDOW);
        if (unique.some((t) => t.includes(piece))) found.add(what);
      }
    }
    return [...found];
  }
}

/** Everything an error says about itself: message, stack, and its causes'. */
export function errorTexts(e: unknown, depth = 0): string[] {
  if (!(e instanceof Error) || depth > 5) return e === undefined ? [] : [String(e)];
  const out = [e.message, e.stack ?? ''];
  for (const v of Object.values(e)) if (typeof v === 'string') out.push(v);
  return out.concat(errorTexts((e as { cause?: unknown }).cause, depth + 1));
}

/**
 * Records everything written through `console` from now on (and still
 * writes it); call the result to stop and get it. With `sink`, each text goes
 * there instead of being kept (the soak scans as it goes, in bounded memory).
 */
export function captureConsole(sink?: (text: string) => void): () => string[] {
  const texts: string[] = [];
  const methods = ['log', 'info', 'warn', 'error', 'debug'] as const;
  const originals = methods.map((m) => console[m]);
  methods.forEach((m, i) => {
    console[m] = (...args: unknown[]) => {
      const text = args.map((a) => (a instanceof Error ? errorTexts(a).join('\n') : typeof a === 'string' ? a : JSON.stringify(a))).join(' ');
      if (sink) sink(text);
      else texts.push(text);
      originals[i]!.apply(console, args);
    };
  });
  return () => {
    methods.forEach((m, i) => (console[m] = originals[i]!));
    return texts;
  };
}

/** Records unhandled promise rejections from now on; call the result to stop and get them. */
export function trackUnhandledRejections(): () => unknown[] {
  const seen: unknown[] = [];
  const onRejection = (reason: unknown) => void seen.push(reason);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('unhandledRejection', onRejection);
    return seen;
  };
}
