/**
 * Test helpers: real temporary directories (no file-system mocks) and child processes.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

/** Repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The built package entry (tests that spawn processes use the build: `npm test` builds first). */
export const DIST = path.join(ROOT, 'dist', 'index.js');
/** The built `config-persistence/storage` subpath (LocalStorage, MemoryStorage, the storage types). */
export const DIST_STORAGE = path.join(ROOT, 'dist', 'storage', 'index.js');
/** The built CLI. */
export const CLI = path.join(ROOT, 'dist', 'cli.js');

const made: string[] = [];

/** A fresh temp directory, removed after the test. */
export async function tempDir(prefix = 'cp-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

afterEach(async () => {
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Result of a finished child process. */
export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node -e script` (ESM) in `cwd` and collects its output. */
export function runNode(script: string, opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return runProcess(process.execPath, ['--input-type=module', '-e', script], opts);
}

/** Runs a command and collects its output. */
export function runProcess(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** The error `p` rejects with (a test failure when it resolves), with the library's fields typed loosely. */
export async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; migration?: number; issues?: unknown[] }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}
