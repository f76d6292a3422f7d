/**
 * Compile-time guarantees of the public types: consumer files in test/types/ are compiled with
 * `tsc`; lines marked `@ts-expect-error` must fail to compile, the rest must compile.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { ROOT } from './helpers/tmp.js';

it('typed dot paths: typos in get/has/delete/set are compile errors, open-ended configs take any path', async () => {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const run = await promisify(execFile)(process.execPath, [tsc, '-p', path.join(ROOT, 'test', 'types', 'tsconfig.json')]).then(
    () => ({ code: 0, out: '' }),
    (err: { code?: number; stdout?: string }) => ({ code: err.code ?? 1, out: err.stdout ?? '' }),
  );
  expect(run.out).toBe('');
  expect(run.code).toBe(0);
}, 60_000);
