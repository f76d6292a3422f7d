/**
 * kill -9 loops for the backup, history and snapshot suites: a child process (importing the built
 * `dist/`) runs an endless loop of operations; it is killed with SIGKILL at a random instant after
 * it reports `ready`, again and again, so kills land inside commits of every kind.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { DIST } from './tmp.js';

/** Runs `body` (ESM, with `ConfigPersistence` and `dir` in scope) in an endless loop, killing it `kills` times. */
export async function killLoop(opts: { dir: string; setup: string; body: string; kills: number; maxDelayMs: number; env?: NodeJS.ProcessEnv }): Promise<{ kills: number; iterations: number }> {
  const script = `
    import { ConfigPersistence } from ${JSON.stringify(DIST)};
    const dir = ${JSON.stringify(opts.dir)};
    ${opts.setup}
    process.stdout.write('ready\\n');
    for (let i = 0; ; i++) {
      ${opts.body}
      if (i % 10 === 0) process.stdout.write('it ' + i + '\\n');
    }
  `;
  let iterations = 0;
  for (let k = 0; k < opts.kills; k++) {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: opts.dir, // no schemas/ of the repository applies
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready\n')) resolve();
      });
      child.on('close', () => reject(new Error(`child exited before it was ready: ${err}`)));
    });
    const closed = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
    await ready;
    await new Promise((r) => setTimeout(r, Math.random() * opts.maxDelayMs));
    child.kill('SIGKILL');
    const signal = await closed;
    if (signal !== 'SIGKILL') throw new Error(`child ended by itself (${signal}): ${err}`);
    // The dead holder's locks would go stale after ~5 s; lock recovery is proven by the storage
    // suite, here it would only cap the number of kills.
    await rm(path.join(opts.dir, '.locks'), { recursive: true, force: true });
    const its = [...out.matchAll(/^it (\d+)$/gm)].map((m) => Number(m[1]));
    iterations += its.length ? its[its.length - 1]! : 0;
  }
  return { kills: opts.kills, iterations };
}

/** Hex sha256. */
export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Every file in `backups/` that is not the index and not a temp file. */
export async function backupFiles(dir: string): Promise<string[]> {
  const names = await readdir(path.join(dir, 'backups')).catch(() => [] as string[]);
  return names.filter((n) => n !== 'index.jsonl' && !n.startsWith('.')).sort();
}

/** The uncompressed content of a backup file, read from disk. */
export async function backupContent(dir: string, id: string): Promise<Buffer> {
  const raw = await readFile(path.join(dir, 'backups', id));
  return id.endsWith('.gz') ? gunzipSync(raw) : raw;
}
