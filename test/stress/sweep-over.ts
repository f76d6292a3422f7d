/**
 * Shared by the stress sweeps: builds a starting directory, fails each file-system call of an
 * operation in turn (test/reliability/sweep.ts) and optionally kills the process at each of them.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { DIST, tempDir } from '../helpers/tmp.js';
import { crashSweep, sweep, type SweepStats } from '../reliability/sweep.js';

const { ConfigPersistence } = (await import(DIST)) as typeof import('../../src/index.js');

export const totals: SweepStats = { injections: 0, rejected: 0, resolved: 0, shifted: 0 };
export const crashTotals = { kills: 0 };

/** Builds the starting directory with `prepare` and sweeps `spec` over it. */
export async function sweepOver(
  name: string,
  prepare: (cp: InstanceType<typeof ConfigPersistence>) => Promise<Record<string, unknown> | void>,
  spec: (prepared: Record<string, unknown>) => Parameters<typeof sweep>[0]['spec'],
  targets: string[],
  mayAbsorb?: (shape: string) => boolean,
  alsoCrash = false,
): Promise<void> {
  const work = await tempDir('cp-sweep-');
  const template = path.join(work, 'template');
  mkdirSync(template);
  const cp = new ConfigPersistence({ baseDir: template, schemaDir: path.join(work, 'no-schemas') });
  const prepared = (await prepare(cp)) ?? {};
  await cp.close();
  const stats = await sweep({ template, work, spec: spec(prepared), targets, ...(mayAbsorb ? { mayAbsorb } : {}) });
  console.log(`fault-injection/${name}: ${JSON.stringify(stats)}`);
  for (const k of Object.keys(totals) as Array<keyof SweepStats>) totals[k] += stats[k];
  expect(stats.rejected).toBeGreaterThan(5);
  if (alsoCrash) {
    // The same operation killed (SIGKILL) at each of its file-system calls instead.
    const crashWork = path.join(work, 'crash');
    mkdirSync(crashWork);
    const crash = await crashSweep({ template, work: crashWork, spec: spec(prepared), targets });
    console.log(`crash/every-call/${name}: ${JSON.stringify(crash)}`);
    crashTotals.kills += crash.kills;
  }
}

export const A = { generation: 'a', pad: 'a'.repeat(2000) };
export const B = { generation: 'b', pad: 'b'.repeat(2500) };

