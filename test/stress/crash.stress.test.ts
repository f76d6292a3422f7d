/**
 * The kill -9 loops of test/reliability/crash.test.ts, many more times (figures for
 * docs/guarantees.md). The update() loop that leaves each killed holder's lock behind is in
 * lock-recovery.stress.test.ts.
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

  it('a mix of saves, deletes, backups, restores, profile changes and snapshot restores', async () => {
    const work = await tempDir('cp-stress-');
    const dir = path.join(work, 'config');
    mkdirSync(dir);
    const report = await runModelKillLoop({ dir, stateFile: path.join(work, 'state.json'), rounds: rounds(50), maxDelayMs: 500 });
    console.log(`stress/crash/mixed: ${JSON.stringify(report)}`);
    expect(report.kills).toBe(rounds(50));
  }, 900_000);
});
