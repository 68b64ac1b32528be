/**
 * The frame of every fault test file: a `Lab`, and after the file's tests the
 * checks that hold for every scenario — no unhandled promise rejection, and
 * no credential in anything written to the console (the scenarios check
 * their own loggers and errors).
 */
import { afterAll, beforeAll, expect, inject } from 'vitest';
import { captureConsole, trackUnhandledRejections } from './harness.ts';
import { Lab } from './lab.ts';

export function faultSuite(): { readonly lab: Lab } {
  let lab: Lab | undefined;
  let unhandled: () => unknown[];
  let consoleTexts: () => string[];
  beforeAll(() => {
    expect(inject('kube').local, 'the fault tests drive the local control plane (proxies to it, restarts, compaction)').toBe(true);
    unhandled = trackUnhandledRejections();
    consoleTexts = captureConsole();
    lab = new Lab();
  });
  afterAll(async () => {
    await lab?.close();
    const texts = consoleTexts();
    expect(unhandled()).toEqual([]);
    if (lab) expect(lab.secrets.leaks(texts)).toEqual([]);
  });
  return {
    get lab() {
      return lab!;
    },
  };
}
