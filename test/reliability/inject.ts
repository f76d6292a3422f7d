/**
 * System-call fault injection with strace. A worker (children/once.mjs) loads everything, prints
 * "ready" and waits; strace attaches to all its threads; then the worker runs one operation.
 * strace attaches to the worker's file-system thread only (UV_THREADPOOL_SIZE=1: one thread does
 * all file-system work, in a deterministic order), so the N-th call of a kind after the attach is
 * the operation's own N-th call. A dry run lists those calls; each can then be failed alone.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { start, startWorker } from './lib.js';

/** The system calls a write path makes, as strace names them on x86-64 / arm64. */
export const FILE_SYSCALLS = ['openat', 'pwrite64', 'write', 'fsync', 'fdatasync', 'rename', 'renameat2', 'link', 'linkat', 'unlink', 'unlinkat', 'mkdir', 'mkdirat', 'close'];

/** What the worker printed. */
export interface OpResult {
  ok: boolean;
  value?: unknown;
  code?: string;
  syscallCode?: string;
  message?: string;
}

/** Which of the worker's threads made a call: the main thread makes the small synchronous calls, the thread pool's fsyncs and large reads/writes. */
export type ThreadRole = 'main' | 'pool';

/** One traced call of the worker's main or file-system thread. */
export interface TracedCall {
  tid: number;
  /** Whose call it is (the dry run traces both threads; an injection attaches to this one only). */
  thread: ThreadRole;
  name: string;
  /** 1-based count of this call name on this thread since the attach (strace's `when=`). */
  ordinal: number;
  /** Position among all traced calls of all threads. */
  index: number;
  args: string;
}

/** The worker's spec (see children/once.mjs). */
export interface OpSpec {
  baseDir: string;
  op: string;
  file?: string;
  data?: unknown;
  method?: string;
  args?: unknown[];
  options?: Record<string, unknown>;
}

/**
 * Runs the operation under strace with `straceArgs` (e.g. `-e inject=...`); returns result and trace.
 * `threads`: which of the worker's threads to attach to. strace counts `when=` per thread, so an
 * injection attaches only to the thread of its call; other threads (V8's, timers) are never traced.
 */
export async function runTraced(
  spec: OpSpec,
  straceArgs: string[],
  opts: { expectKill?: boolean; threads?: ThreadRole[] } = {},
): Promise<{ result: OpResult; trace: string; exit: number | null; signal: NodeJS.Signals | null; roles: Map<number, ThreadRole> }> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'cp-strace-'));
  try {
    const child = startWorker('once.mjs', [JSON.stringify(spec)], { env: { UV_THREADPOOL_SIZE: '1' }, cwd: work });
    const ready = await child.waitFor((l) => l.startsWith('ready '));
    const [, mainThread, fsThread] = ready.split(' ') as [string, string, string];
    const roles = new Map<number, ThreadRole>([
      [Number(mainThread), 'main'],
      [Number(fsThread), 'pool'],
    ]);
    const threads = opts.threads ?? ['main', 'pool'];
    const out = path.join(work, 'trace.txt');
    const attach = threads.flatMap((role) => ['-p', role === 'main' ? mainThread : fsThread]);
    const tracer = start('strace', ['-y', ...attach, '-o', out, ...straceArgs]);
    // strace announces each attached thread on stderr; only then may the operation begin.
    const deadline = Date.now() + 10_000;
    while ((tracer.stderr().match(/attached/g) ?? []).length < threads.length) {
      if (Date.now() > deadline) throw new Error(`strace did not attach: ${tracer.stderr()}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    child.send('go');
    if (opts.expectKill) {
      // strace delivers SIGKILL at the chosen call: the worker dies without a result.
      const timer = setTimeout(() => child.proc.kill('SIGTERM'), 30_000);
      const end = await child.exited;
      clearTimeout(timer);
      await tracer.exited;
      const line = child.lines.find((l) => l.startsWith('result '));
      if (end.signal !== 'SIGKILL') throw new Error(`worker was not killed (${end.code ?? end.signal}); ${line ?? child.stderr()}`);
      return { result: { ok: false, code: 'KILLED' }, trace: readFileSync(out, 'utf8'), exit: null, signal: end.signal, roles };
    }
    let line: string;
    try {
      line = await child.waitFor((l) => l.startsWith('result '), 30_000);
    } catch (err) {
      child.proc.kill('SIGKILL'); // a hung worker would keep strace attached forever
      throw err;
    }
    const timer = setTimeout(() => child.proc.kill('SIGKILL'), 10_000);
    const { code, signal } = await child.exited;
    clearTimeout(timer);
    await tracer.exited;
    return { result: JSON.parse(line.slice('result '.length)) as OpResult, trace: readFileSync(out, 'utf8'), exit: code, signal, roles };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Parses strace -f output into calls (the start line of each; resumptions are skipped). */
export function parseTrace(trace: string, roles: Map<number, ThreadRole> = new Map()): TracedCall[] {
  const calls: TracedCall[] = [];
  const counts = new Map<string, number>();
  for (const line of trace.split('\n')) {
    const m = /^(?:(\d+)\s+)?([a-z0-9_]+)\((.*)$/.exec(line);
    if (!m) continue;
    const tid = Number(m[1] ?? 0);
    const name = m[2]!;
    const key = `${tid}:${name}`;
    const ordinal = (counts.get(key) ?? 0) + 1;
    counts.set(key, ordinal);
    // One attached thread: strace prints no tid, and the caller knows which thread it was.
    const thread = roles.get(tid) ?? (roles.size === 1 ? [...roles.values()][0]! : 'pool');
    calls.push({ tid, thread, name, ordinal, index: calls.length, args: m[3]! });
  }
  return calls;
}

/** The calls that touch `dir` (by path argument or by an fd that strace -y resolves into it). */
export function callsInside(calls: TracedCall[], dir: string): TracedCall[] {
  return calls.filter((c) => c.args.includes(`${dir}/`) || c.args.includes(`"${dir}"`) || c.args.includes(`<${dir}>`));
}

/** Copies a prepared directory (hard links within it preserved) to a fresh place. */
export function cloneDir(from: string, to: string): void {
  cpSync(from, to, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
}

/**
 * A call's identity that does not depend on random temp names, timestamps or hashes: its name and
 * the paths it touches, relative to `dir`. Used to check that an injection hit the intended call.
 */
export function callShape(c: Pick<TracedCall, 'name' | 'args'>, dir: string): string {
  // Arguments only: not the return value (an fd and its path on success) nor the working directory.
  const args = c.args.replace(/\)\s+=\s[^=]*$/, '').replace(/AT_FDCWD<[^>]*>/g, 'AT_FDCWD');
  const paths = [...args.matchAll(/"(\/[^"]*)"|<(\/[^>]*)>/g)].map((m) => (m[1] ?? m[2])!);
  const normal = paths.map((p) =>
    p
      .split(dir)
      .join('<dir>')
      .replace(/\.[^/]*?\.\d+-\d+-[0-9a-f]+\.cp-tmp$/, '<temp>')
      .replace(/\d{8}T\d{6}\.\d{3}Z(-\d+)?/g, '<stamp>')
      .replace(/\d{10,}-\d+-[0-9a-f]{8}/g, '<txn>')
      .replace(/[0-9a-f]{64}/g, '<sha>'),
  );
  return `${c.name} ${normal.join(' ')}`;
}
