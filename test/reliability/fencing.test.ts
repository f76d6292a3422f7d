/**
 * Fencing, not trust in the lock: a lock holder that stalls past the stale time (its event loop
 * blocked, or the process stopped with SIGSTOP) loses its lock to another process; when it wakes,
 * its commit is refused because the file moved on since its function read it, and update() runs
 * the function again on the fresh document. No increment is lost. Real processes, real signals.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';
import { readJournalStrict, startWorker } from './lib.js';

async function incrementsDuring(dir: string, count: number): Promise<void> {
  const other = startWorker('concurrent.mjs', ['increment', dir, String(count)], { cwd: dir });
  const end = await other.exited;
  expect(end.code, other.stderr()).toBe(0);
}

describe('a lock holder that stalls cannot undo what others committed meanwhile', () => {
  it('event loop blocked past the stale time: 5 increments by another process survive, then its own', async () => {
    const dir = await tempDir('cp-fence-');
    await incrementsDuring(dir, 1); // n = 1
    const staller = startWorker('concurrent.mjs', ['stall', dir, '7000'], { cwd: dir });
    await staller.waitFor((l) => l === 'stalling');
    await incrementsDuring(dir, 5); // waits for the stale lock (5 s), then n = 6
    const end = await staller.exited;
    expect(end.code, staller.stderr()).toBe(0);
    // Its function ran again on n = 6 (the first result, 2, was refused at commit).
    expect(staller.lines.join('\n')).toMatch(/final 7 version \d+ calls 2/);
    expect(JSON.parse(readFileSync(path.join(dir, 'counter.json'), 'utf8'))).toEqual({ n: 7 });
    expect(readJournalStrict(path.join(dir, 'history', 'counter.json.jsonl')).at(-1)!.v).toBe(7);
  }, 60_000);

  it('process stopped with SIGSTOP inside update(): its commit after SIGCONT is refused and redone', async () => {
    const dir = await tempDir('cp-fence-');
    await incrementsDuring(dir, 1);
    const paused = startWorker('concurrent.mjs', ['pause', dir, '300'], { cwd: dir });
    await paused.waitFor((l) => l === 'holding');
    paused.proc.kill('SIGSTOP');
    try {
      await incrementsDuring(dir, 5);
    } finally {
      paused.proc.kill('SIGCONT');
    }
    const end = await paused.exited;
    expect(end.code, paused.stderr()).toBe(0);
    expect(paused.lines.join('\n')).toMatch(/final 7 version \d+ calls 2/);
    expect(JSON.parse(readFileSync(path.join(dir, 'counter.json'), 'utf8'))).toEqual({ n: 7 });
  }, 60_000);
});
