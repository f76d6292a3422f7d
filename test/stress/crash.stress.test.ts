/**
 * The kill -9 loops of test/reliability/crash.test.ts, many more times (figures for
 * docs/guarantees.md), plus update() loops where every next worker must recover the killed one's
 * lock by staleness on its own.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';
import { runKillLoop } from '../reliability/kill-loop.js';
import { runModelKillLoop } from '../reliability/model-kill-loop.js';

const SCALE = Number(process.env.CP_STRESS_SCALE ?? 1);
const rounds = (n: number): number => Math.max(1, Math.round(n * SCALE));

describe('kill -9, many times', () => {
  it('JSON saves', async () => {
    const dir = await tempDir('cp-stress-');
    const report = await runKillLoop({ mode: 'save', dir, rounds: rounds(40), maxDelayMs: 150, clearLocks: true });
    console.log(`stress/crash/save: ${JSON.stringify(report)}`);
    expect(report.kills).toBe(rounds(40));
  }, 900_000);

  it('YAML saves', async () => {
    const dir = await tempDir('cp-stress-');
    const report = await runKillLoop({ mode: 'yaml', dir, rounds: rounds(12), maxDelayMs: 150, clearLocks: true });
    console.log(`stress/crash/yaml: ${JSON.stringify(report)}`);
    expect(report.kills).toBe(rounds(12));
  }, 900_000);

  it('update() with the killed holder’s lock left for the next worker to recover', async () => {
    const dir = await tempDir('cp-stress-');
    const report = await runKillLoop({ mode: 'update', dir, rounds: rounds(6), maxDelayMs: 100, clearLocks: false });
    console.log(`stress/crash/update-stale-lock: ${JSON.stringify(report)}`);
    expect(report.kills).toBe(rounds(6));
  }, 900_000);

  it('a mix of saves, deletes, backups, restores, profile changes and snapshot restores', async () => {
    const work = await tempDir('cp-stress-');
    const dir = path.join(work, 'config');
    mkdirSync(dir);
    const report = await runModelKillLoop({ dir, stateFile: path.join(work, 'state.json'), rounds: rounds(50), maxDelayMs: 500 });
    console.log(`stress/crash/mixed: ${JSON.stringify(report)}`);
    expect(report.kills).toBe(rounds(50));
  }, 900_000);
});
