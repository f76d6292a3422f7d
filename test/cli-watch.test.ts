/**
 * `config-persistence watch`: a long-running process that prints each valid change, reports invalid
 * edits on stderr without stopping, and exits 0 on SIGINT.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, workspace } from './helpers/cli.js';

/** A running watch with its output so far. */
interface Running {
  child: ChildProcessWithoutNullStreams;
  out: () => string;
  err: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(cwd: string, args: string[]): Running {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return { child, out: () => out, err: () => err, exited };
}

async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Writes like a careful editor: a temp file renamed over the target. */
async function replace(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp-edit`, text);
  await rename(`${file}.tmp-edit`, file);
}

describe('CLI: watch', () => {
  it('prints each valid change, reports invalid content on stderr and keeps going, exits 0 on SIGINT', async () => {
    const ws = await workspace();
    const file = path.join(ws, 'config', 'current.yaml');
    await writeFile(file, 'server:\n  port: 9000\n');
    const w = start(ws, ['watch']);
    try {
      await until('the watch to be armed', () => w.err().includes('watching'));
      await replace(file, 'server:\n  port: 9001\n');
      await until('the first change', () => w.out().includes('server.port: 9000 → 9001'));
      await replace(file, 'server:\n  port: 99999\n');
      await until('the validation error', () => w.err().includes('E_VALIDATION'));
      expect(w.err()).toContain('the last good version stays current');
      await replace(file, 'server:\n  port: 9002\n');
      // Compared with the last good version (9001), not with the invalid one.
      await until('the change after the invalid edit', () => w.out().includes('server.port: 9001 → 9002'));
    } finally {
      w.child.kill('SIGINT');
    }
    const { code, signal } = await w.exited;
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(w.out()).not.toContain('99999');
  });

  it('--json prints one JSON document per change', async () => {
    const ws = await workspace();
    const file = path.join(ws, 'config', 'current.yaml');
    await writeFile(file, 'logging:\n  level: info\n');
    const w = start(ws, ['--json', 'watch', 'current.yaml']);
    try {
      await until('the watch to be armed', () => w.err().includes('watching'));
      await replace(file, 'logging:\n  level: debug\n');
      await until('a JSON line', () => w.out().includes('\n'));
    } finally {
      w.child.kill('SIGINT');
    }
    expect((await w.exited).code).toBe(0);
    const line = JSON.parse(w.out().split('\n')[0]!) as { scope: string; file: string; changes: unknown[]; data: { logging: { level: string } } };
    expect(line.scope).toBe('file');
    expect(line.file).toBe('current.yaml');
    expect(line.changes).toEqual([{ path: 'logging.level', type: 'changed', oldValue: 'info', newValue: 'debug' }]);
    expect(line.data.logging.level).toBe('debug');
  });

  it('without a file follows the effective configuration: a change in the active profile is printed', async () => {
    const ws = await workspace();
    const profile = path.join(ws, 'config', 'profiles', 'production.yaml');
    const w = start(ws, ['--json', 'watch', '--profile', 'production']);
    try {
      // With --json even the "watching" notice on stderr is a JSON line.
      await until('the watch to be armed', () => w.err().includes('"watching"'));
      await replace(profile, (await readFile(profile, 'utf8')).replace('level: warn', 'level: error'));
      await until('a JSON line', () => w.out().includes('\n'));
    } finally {
      w.child.kill('SIGTERM');
    }
    expect((await w.exited).code).toBe(0);
    for (const text of w.err().split('\n').filter(Boolean)) expect(() => JSON.parse(text), text).not.toThrow();
    expect(JSON.parse(w.err().split('\n')[0]!)).toMatchObject({ watching: { scope: 'effective', profile: 'production' } });
    const line = JSON.parse(w.out().split('\n')[0]!) as { scope: string; profile: string; changes: unknown[] };
    expect(line).toMatchObject({ scope: 'effective', profile: 'production' });
    expect(line.changes).toEqual([{ path: 'logging.level', type: 'changed', oldValue: 'warn', newValue: 'error' }]);
  });

  it('refuses a hostile file name with E_INVALID_NAME', async () => {
    const ws = await workspace();
    const w = start(ws, ['watch', '../../etc/passwd']);
    const { code } = await w.exited;
    expect(code).toBe(1);
    expect(w.err()).toMatch(/^E_INVALID_NAME: /);
  });
});
