/**
 * Shared tools of the reliability suites: worker processes that report acknowledged operations,
 * file-system inspection (temp files, journals, content-addressed objects) and mounts (tmpfs,
 * loop-mounted ext4) for full-disk, read-only and power-cut scenarios. Real processes and real
 * file systems only: a mock cannot crash or run out of space the way a disk does.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DIST, ROOT } from '../helpers/tmp.js';

/** Worker scripts run as child processes (they import the built `dist/`). */
export const CHILDREN = path.join(ROOT, 'test', 'reliability', 'children');

/** A running child process whose stdout is collected line by line. */
export interface Child {
  proc: ChildProcess;
  pid: number;
  lines: string[];
  stderr: () => string;
  /** Resolves with the first line (already seen or future) that matches. */
  waitFor(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves when the process has exited and its output is drained. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  send(line: string): void;
}

/** Starts `cmd args` and follows its output. */
export function start(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Child {
  const proc = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  let err = '';
  const waiters = new Set<{ match: (l: string) => boolean; resolve: (l: string) => void }>();
  proc.stdout!.on('data', (d: Buffer) => {
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.match(line)) {
          waiters.delete(w);
          w.resolve(line);
        }
      }
    }
  });
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  proc.stdin!.on('error', () => undefined); // the child may die before reading stdin: that is the point of these tests
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('close', (code, signal) => {
      if (partial) lines.push(partial);
      resolve({ code, signal });
    });
  });
  return {
    proc,
    pid: proc.pid!,
    lines,
    stderr: () => err,
    exited,
    send: (line) => proc.stdin!.write(`${line}\n`),
    waitFor(match, timeoutMs = 20_000) {
      const seen = lines.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const w = { match, resolve: (l: string) => (clearTimeout(timer), resolve(l)) };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(new Error(`timed out waiting for output; stdout:\n${lines.join('\n')}\nstderr:\n${err}`));
        }, timeoutMs);
        waiters.add(w);
        void exited.then((end) => {
          if (!waiters.has(w)) return;
          waiters.delete(w);
          clearTimeout(timer);
          reject(new Error(`process exited (${end.code ?? end.signal}) before the expected output; stdout:\n${lines.join('\n')}\nstderr:\n${err}`));
        });
      });
    },
  };
}

/** Starts one of the worker scripts under `children/` with this Node binary. */
export function startWorker(script: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Child {
  return start(process.execPath, [path.join(CHILDREN, script), ...args], opts);
}

/** Kills a child with SIGKILL and waits for it to be gone. */
export async function kill9(child: Child): Promise<void> {
  child.proc.kill('SIGKILL');
  await child.exited;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Every regular file under `dir`, relative, recursively. */
export function walkFiles(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  let entries;
  try {
    entries = readdirSync(path.join(dir, prefix), { withFileTypes: true });
  } catch {
    return out; // a directory that does not exist holds no files
  }
  for (const e of entries) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...walkFiles(dir, rel));
    else out.push(rel);
  }
  return out;
}

/** Leftover temp files of the durable writer (suffix `.cp-tmp`) anywhere under `dir`. */
export function findTemps(dir: string): string[] {
  return walkFiles(dir).filter((f) => f.endsWith('.cp-tmp'));
}

/** A history journal parsed strictly: every complete line must be JSON; versions must increase (after void lines are applied). */
export function readJournalStrict(file: string): Array<{ v: number; sha256: string; op: string }> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  // A kill can tear an append: the kernel checks for a fatal signal between the pages of one
  // write(), so a line that crosses a 4 KiB boundary of the file can end half written. The reader
  // skips such a fragment (and verify reports it, repair rewrites the journal); only a fragment is
  // tolerated here — a line that starts like a record and does not parse — never a lost record.
  const entries: Array<{ v: number; sha256: string; op: string }> = [];
  for (const [i, l] of text.split('\n').entries()) {
    if (l === '') continue;
    try {
      const line = JSON.parse(l) as { v: number; sha256: string; op: string; void?: number };
      if (line.void === undefined) entries.push(line);
      // A void line takes back the newest version, recorded for a save killed before its rename
      // (its staged temp file was the evidence); it may take back nothing else.
      else if (entries.at(-1)?.v === line.void) entries.pop();
      else throw new Error(`${file}:${i + 1} voids version ${line.void}, but the newest is ${entries.at(-1)?.v}`);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith(file)) throw err;
      if (!l.startsWith('{"v":')) throw new Error(`${file}:${i + 1} is not JSON and not a torn record: ${JSON.stringify(l)}`);
    }
  }
  for (let i = 1; i < entries.length; i++) {
    if (!(entries[i]!.v > entries[i - 1]!.v)) throw new Error(`${file}: version ${entries[i]!.v} after ${entries[i - 1]!.v}`);
  }
  return entries;
}

/** history/objects is content-addressed: every object must hash to its own name. */
export function checkObjects(dir: string): number {
  const objects = path.join(dir, 'history', 'objects');
  let names: string[] = [];
  try {
    names = readdirSync(objects).filter((n) => !n.endsWith('.cp-tmp'));
  } catch {
    return 0; // no history yet
  }
  for (const name of names) {
    const actual = sha256(readFileSync(path.join(objects, name)));
    if (actual !== name) throw new Error(`history object ${name} holds content with sha256 ${actual}`);
  }
  return names.length;
}

/**
 * Backups must be complete copies: every `add` record in backups/index.jsonl whose file still
 * exists matches its recorded sha256 (and size, for uncompressed ones).
 */
export function checkBackups(dir: string): number {
  const index = path.join(dir, 'backups', 'index.jsonl');
  let text = '';
  try {
    text = readFileSync(index, 'utf8');
  } catch {
    return 0; // no backups yet
  }
  let checked = 0;
  for (const line of text.split('\n')) {
    if (!line) continue;
    let rec: { op: string; id: string; sha256: string; compressed?: boolean; kind?: string };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      // A torn append (see readJournalStrict): skipped by the reader, rewritten by repair.
      if (!line.startsWith('{"op":')) throw new Error(`${index}: a line that is not JSON and not a torn record: ${JSON.stringify(line)}`);
      continue;
    }
    if (rec.op !== 'add' || rec.compressed || rec.kind === 'snapshot') continue;
    let bytes: Buffer;
    try {
      bytes = readFileSync(path.join(dir, 'backups', rec.id));
    } catch {
      continue; // removed by retention later
    }
    if (sha256(bytes) !== rec.sha256) throw new Error(`backup ${rec.id} does not match its recorded sha256`);
    checked++;
  }
  return checked;
}

// ---------------------------------------------------------------------------------------------
// Mounts. CI runs as root on Linux; elsewhere the mount tests say why they cannot run.
// ---------------------------------------------------------------------------------------------

let mountable: string | undefined | null = null;

/** `undefined` when this process can mount file systems, else the reason it cannot. */
export function mountUnavailableReason(): string | undefined {
  if (mountable !== null) return mountable;
  if (process.platform !== 'linux') return (mountable = `mounting needs Linux (this is ${process.platform})`);
  if (process.getuid?.() !== 0) return (mountable = 'mounting needs root');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cp-mnt-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'pipe' });
    execFileSync('umount', [dir], { stdio: 'pipe' });
    mountable = undefined;
  } catch (err) {
    mountable = `mount -t tmpfs failed: ${(err as Error).message.split('\n')[0]}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return mountable;
}

/** True when a command is on PATH. */
export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'pipe' });
    return true;
  } catch {
    return false; // not installed
  }
}

/** Runs a command synchronously and returns its stdout. */
export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { stdio: 'pipe', encoding: 'utf8' });
}

/** Mounts a tmpfs of `size` (e.g. `64k`) on `dir`. */
export function mountTmpfs(dir: string, size: string): void {
  sh('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir]);
}

/** Unmounts `dir`, lazily if still busy, so a failing test never leaves a mount behind. */
export function unmount(dir: string): void {
  try {
    sh('umount', [dir]);
  } catch {
    sh('umount', ['-l', dir]); // busy (a killed child's handle): detach now, the kernel frees it later
  }
}

/** Free bytes on the file system holding `dir`. */
export function freeBytes(dir: string): number {
  const out = sh('df', ['-B1', '--output=avail', dir]).trim().split('\n');
  return Number(out[out.length - 1]);
}

/** Size of a file in bytes, or -1 when it is missing. */
export function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return -1;
  }
}

/**
 * Writes `child.mjs` beside `baseDir` for a traced run: ESM where `cp` is a ConfigPersistence on
 * `baseDir` (with `options`, an object literal's text) and `mark(name)` a system call strace shows
 * (`/nonexistent-mark-<name>`), then `body`, then `cp.close()` when `close`. Returns its path.
 */
export function writeMarkedChild(baseDir: string, body: string, opts: { options?: string; close?: boolean } = {}): string {
  const script = path.join(baseDir, '..', 'child.mjs');
  writeFileSync(
    script,
    `import { statSync } from 'node:fs';
const { ConfigPersistence } = await import(${JSON.stringify(DIST)});
const mark = (name) => statSync('/nonexistent-mark-' + name, { throwIfNoEntry: false });
const cp = new ConfigPersistence({ baseDir: ${JSON.stringify(baseDir)}, schemaDir: ${JSON.stringify(path.join(baseDir, '..', 'none'))}, ...${opts.options ?? '{}'} });
${body}
${opts.close ? 'await cp.close();\n' : ''}`,
  );
  return script;
}
