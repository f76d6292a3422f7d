/**
 * Helpers for end-to-end CLI tests: a temp workspace holding a copy of the bundled `config/` and
 * `schemas/`, and a runner for the built binary (`dist/cli.js`).
 */
import { cp } from 'node:fs/promises';
import path from 'node:path';
import { CLI, ROOT, runProcess, tempDir, type RunResult } from './tmp.js';

/** A temp directory with copies of the bundled example: `<ws>/config`, `<ws>/schemas`. */
export async function workspace(opts: { schemas?: boolean } = {}): Promise<string> {
  const ws = await tempDir('cp-cli-');
  await cp(path.join(ROOT, 'config'), path.join(ws, 'config'), { recursive: true });
  if (opts.schemas !== false) await cp(path.join(ROOT, 'schemas'), path.join(ws, 'schemas'), { recursive: true });
  return ws;
}

/**
 * The binary under test: the build in `dist/`, or `CP_TEST_CLI` (a build elsewhere inside the
 * repository, e.g. `.tmp/dist/cli.js`) so a test run is not disturbed by a concurrent rebuild of `dist/`.
 */
export const BIN = process.env.CP_TEST_CLI ? path.resolve(ROOT, process.env.CP_TEST_CLI) : CLI;

/** Runs `node dist/cli.js ...args` in `cwd` (stdin is a pipe, so never a terminal). */
export function cli(cwd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return runProcess(process.execPath, [BIN, ...args], {
    cwd,
    env: { NO_COLOR: '', FORCE_COLOR: '', ...opts.env },
    ...(opts.input !== undefined ? { input: opts.input } : {}),
    timeoutMs: opts.timeoutMs ?? 30_000,
  });
}

/** Parses the stdout of a `--json` run, failing the test with the output when it is not JSON. */
export function json<T = Record<string, unknown>>(result: RunResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${result.code}):\n${result.stdout}\nstderr:\n${result.stderr}`);
  }
}
