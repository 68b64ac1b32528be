import { afterEach, describe, expect, it, vi } from 'vitest';
import { consoleLogger, formatFields, jsonLogger } from './logger.ts';

describe('loggers', () => {
  afterEach(() => vi.restoreAllMocks());

  it('formats fields as logfmt: quoted when needed, undefined left out', () => {
    expect(formatFields({ resource: 'pods', key: 'shop/web-0', durationMs: 12.5, leading: true, none: undefined })).toBe(
      'resource=pods key=shop/web-0 durationMs=12.5 leading=true',
    );
    expect(formatFields({ error: '503: Service Unavailable', empty: '', q: 'a"b', eq: 'a=b' })).toBe(
      'error="503: Service Unavailable" empty="" q="a\\"b" eq="a=b"',
    );
    expect(formatFields(undefined)).toBe('');
  });

  it('consoleLogger prints the message, then the fields', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    consoleLogger.warn('watch failed, retrying', { resource: 'pods', retryInMs: 800 });
    consoleLogger.warn('plain');
    expect(warn.mock.calls).toEqual([
      ['kubereflect:', 'watch failed, retrying resource=pods retryInMs=800'],
      ['kubereflect:', 'plain'],
    ]);
  });

  it('jsonLogger writes one object per line from its level up; fields never replace time, level or msg', () => {
    const lines: string[] = [];
    const log = jsonLogger({ level: 'info', write: (l) => lines.push(l), now: () => Date.UTC(2026, 11, 3) });
    log.debug('not written');
    log.info('leading', { controller: 'widgets', identity: 'web-1' });
    log.error('stopped', { msg: 'spoof', level: 'debug', error: 'boom' });
    expect(lines).toEqual([
      '{"time":"2026-12-03T00:00:00.000Z","level":"info","msg":"leading","controller":"widgets","identity":"web-1"}',
      '{"time":"2026-12-03T00:00:00.000Z","level":"error","msg":"stopped","error":"boom"}',
    ]);
  });
});
