/**
 * The update() kill -9 loop of test/reliability/crash.test.ts with the killed holder's lock left
 * behind: every next worker must recover it by staleness on its own (~5 s per round). Its own file
 * because it mostly waits, so it runs beside the CPU-bound sweeps instead of after them.
 */
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';
import { runKillLoop } from '../reliability/kill-loop.js';

const SCALE = Number(process.env.CP_STRESS_SCALE ?? 1);
const rounds = (n: number): number => Math.max(1, Math.round(n * SCALE));

describe('kill -9 of the lock holder, many times', () => {
  it('update() with the killed holder’s lock left for the next worker to recover', async () => {
    const dir = await tempDir('cp-stress-');
    const report = await runKillLoop({ mode: 'update', dir, rounds: rounds(6), maxDelayMs: 100, clearLocks: false });
    console.log(`stress/crash/update-stale-lock: ${JSON.stringify(report)}`);
    expect(report.kills).toBe(rounds(6));
  }, 900_000);
});
