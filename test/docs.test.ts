/**
 * The API reference builds from the TSDoc comments with no warnings: every
 * public item of the runtime (including the kind machinery generated code
 * builds on) is documented (typedoc.json treats a warning as an error).
 */
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '..');

it('npm run docs builds with no missing-doc warnings', async () => {
  const { stdout, stderr } = await promisify(execFile)(join(repo, 'node_modules', '.bin', 'typedoc'), ['--out', join(repo, '.cache', 'docs-test')], {
    cwd: repo,
    timeout: 120_000,
  });
  const output = stdout + stderr;
  expect(output).not.toMatch(/warning|error/i);
  expect(output).toContain('html generated');
}, 150_000);
