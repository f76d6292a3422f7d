/**
 * Locks are judged by who holds them, not by the wall clock (src/storage/local/locks.ts): a killed
 * holder on this machine is recognised at once, a live one keeps its lock however far another
 * process's clock is off, and a dead one is taken over even with the clock stepped back. Each rule is
 * shown without timing it: the lease is set far longer than the waiter is willing to wait, so only
 * recognising the holder (or not) can decide the outcome. Real processes, a clock shifted by a preload.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers/tmp.js';
import { start, startWorker, type Child } from './lib.js';

const WORKER = path.join(ROOT, 'test', 'reliability', 'children', 'concurrent.mjs');
const SHIFT = path.join(ROOT, 'test', 'reliability', 'children', 'shift-clock.cjs');
/** A lease no test waits for: 10 minutes. */
const LONG = { CP_STALE_MS: '600000', CP_LOCK_TIMEOUT_MS: '3000' };

async function holder(dir: string): Promise<Child> {
  const h = startWorker('concurrent.mjs', ['hold', dir, '1'], { cwd: dir, env: LONG });
  await h.waitFor((l) => l === 'holding');
  return h;
}

async function tryIncrement(dir: string, clockShiftMs = 0): Promise<string> {
  const args = clockShiftMs ? ['--require', SHIFT, WORKER] : [WORKER];
  const w = start(process.execPath, [...args, 'try', dir, '1'], { cwd: dir, env: { ...LONG, CLOCK_SHIFT_MS: String(clockShiftMs) } });
  const end = await w.exited;
  expect(end.code, w.stderr()).toBe(0);
  return w.lines.join('\n');
}

describe('locks of the local storage', () => {
  it('a holder killed with SIGKILL is recognised at once: the next process does not wait for its lease', async () => {
    const dir = await tempDir('cp-lock-');
    const h = await holder(dir);
    h.proc.kill('SIGKILL');
    await h.exited;
    expect(await tryIncrement(dir)).toBe('done');
    expect(JSON.parse(readFileSync(path.join(dir, 'counter.json'), 'utf8'))).toEqual({ n: 1 });
  }, 30_000);

  it('with the clock stepped back an hour, a killed holder is still recognised as gone', async () => {
    const dir = await tempDir('cp-lock-');
    const h = await holder(dir);
    h.proc.kill('SIGKILL');
    await h.exited;
    expect(await tryIncrement(dir, -3_600_000)).toBe('done');
  }, 30_000);

  for (const shift of [10_000, 3_600_000, -3_600_000]) {
    it(`a live holder keeps its lock against a process whose clock is off by ${shift / 1000} s (E_LOCKED, nothing written)`, async () => {
      const dir = await tempDir('cp-lock-');
      const h = await holder(dir);
      try {
        expect(await tryIncrement(dir, shift)).toBe('error E_LOCKED');
      } finally {
        h.proc.kill('SIGKILL');
        await h.exited;
      }
    }, 30_000);
  }

  it('a lock of a process that exited normally is gone with it', async () => {
    const dir = await tempDir('cp-lock-');
    const once = startWorker('concurrent.mjs', ['increment', dir, '1'], { cwd: dir, env: LONG });
    expect((await once.exited).code, once.stderr()).toBe(0);
    expect(await tryIncrement(dir)).toBe('done');
  }, 30_000);
});
