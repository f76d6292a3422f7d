/**
 * Order without the wall clock: backups are ordered by when they were recorded, not by the time in
 * their names, so a clock stepped back (NTP, a VM restored from a snapshot) never makes retention
 * remove the newest backups or repair pick an older one. Real processes, a clock shifted by a preload.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { DIST, ROOT, tempDir } from '../helpers/tmp.js';

const SHIFT = path.join(ROOT, 'test', 'reliability', 'children', 'shift-clock.cjs');

/** Saves `{ i }` for each i in one process whose clock is off by `shiftMs`. */
async function saves(dir: string, from: number, to: number, shiftMs: number): Promise<void> {
  const script = `
    const { ConfigPersistence } = await import(${JSON.stringify(DIST)});
    const cp = new ConfigPersistence({ baseDir: ${JSON.stringify(dir)}, schemaDir: ${JSON.stringify(dir)}, maxBackups: 3 });
    for (let i = ${from}; i <= ${to}; i++) await cp.saveConfig({ i }, 'current.json');
    await cp.close();`;
  await promisify(execFile)(process.execPath, ['--require', SHIFT, '--input-type=module', '-e', script], { env: { ...process.env, CLOCK_SHIFT_MS: String(shiftMs) } });
}

it('with the clock stepped back an hour, retention keeps the newest backups and repair recovers the newest valid one', async () => {
  const dir = await tempDir('cp-clock-');
  await saves(dir, 1, 3, 0);
  await saves(dir, 4, 6, -3_600_000); // the same machine after its clock went back an hour
  const { ConfigPersistence } = (await import(DIST)) as typeof import('../../src/index.js');
  const cp = new ConfigPersistence({ baseDir: dir, schemaDir: dir, maxBackups: 3 });
  const kept = await cp.listBackups('current.json');
  // The backups hold the content each save replaced: {i:3}, {i:4}, {i:5} are the newest three.
  const contents = await Promise.all(kept.map(async (b) => (await cp.getVersion('current.json', (await cp.history('current.json')).find((v) => v.sha256 === b.sha256)!.version)) as { i: number }));
  expect(contents.map((c) => c.i)).toEqual([5, 4, 3]);
  // A damaged current.json is recovered from the newest valid backup, {i:5}, not from an older one.
  await writeFile(path.join(dir, 'current.json'), '{"i": [torn');
  const report = await cp.repair({ recoverFromBackup: true });
  expect(report.actions.map((a) => a.action)).toEqual(['recover']);
  expect(await cp.loadConfig('current.json')).toEqual({ i: 5 });
  await cp.close();
}, 60_000);
