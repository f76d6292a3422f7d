/**
 * 1000 un-awaited saves of one file, then wait for all of them: the library coalesces a burst, so
 * it should cost no more than 100 durable floor writes done one after another (measured in the
 * same round). The file's final content must be the last save's data, and every promise must
 * resolve.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import writeFileAtomic from 'write-file-atomic';
import { Writer as StenoWriter } from 'steno';
import { DIST, floorWriteSync, makeConfig, median, now, progress, round } from './lib.mjs';

export const description = '1000 un-awaited saves of one file, against 100 floor writes';

export async function run({ quick, rounds, workDir }) {
  const { ConfigPersistence } = await import(pathToFileURL(DIST).href);
  const burst = quick ? 100 : 1000;
  const floorCount = burst / 10;
  const base = makeConfig(2048);
  const dirOf = async (name) => {
    const d = path.join(workDir, name);
    await mkdir(d, { recursive: true });
    return d;
  };
  const floorFile = path.join(await dirOf('floor'), 'settings.json');
  const cpDefault = new ConfigPersistence({ baseDir: await dirOf('cp-default') });
  const cpNoBackup = new ConfigPersistence({ baseDir: await dirOf('cp-nobackup'), backupOnWrite: false });
  const wfaFile = path.join(await dirOf('wfa'), 'settings.json');
  const stenoFile = path.join(await dirOf('steno'), 'settings.json');
  const steno = new StenoWriter(stenoFile);
  let tag = 0;

  /** Fires `burst` saves without awaiting, then awaits all; checks the final content. */
  const fire = async (label, save, readBack) => {
    const id = ++tag;
    const docs = Array.from({ length: burst }, (_, i) => ({ ...base, app: { ...base.app, burst: id, revision: i } }));
    const start = now();
    const results = await Promise.allSettled(docs.map((doc) => save(doc)));
    const ms = now() - start;
    const failed = results.filter((r) => r.status === 'rejected');
    if (failed.length) throw new Error(`${label}: ${failed.length} of ${burst} saves rejected: ${failed[0].reason}`);
    const final = await readBack();
    if (final?.app?.burst !== id || final.app.revision !== burst - 1) {
      throw new Error(`${label}: final content is revision ${final?.app?.revision} of burst ${final?.app?.burst}, expected ${burst - 1} of ${id}`);
    }
    return ms;
  };

  const candidates = [
    {
      label: `floor × ${floorCount} (sequential durable writes, synchronous syscalls)`,
      measure: async () => {
        const start = now();
        for (let i = 0; i < floorCount; i++) floorWriteSync(floorFile, Buffer.from(JSON.stringify({ ...base, app: { ...base.app, revision: i } }, null, 2)));
        return now() - start;
      },
    },
    {
      label: `config-persistence: ${burst} un-awaited saveConfig (default)`,
      target: { metric: 'ratio', max: 1, text: `≤ ${floorCount} floor writes` },
      measure: () =>
        fire(
          'config-persistence',
          (doc) => cpDefault.saveConfig(doc, 'settings.json'),
          async () => JSON.parse(await readFile(path.join(cpDefault.baseDir, 'settings.json'), 'utf8')),
        ),
    },
    {
      label: `config-persistence: ${burst} un-awaited (backupOnWrite: false)`,
      target: { metric: 'ratio', max: 1, text: `≤ ${floorCount} floor writes` },
      measure: () =>
        fire(
          'config-persistence (no backup)',
          (doc) => cpNoBackup.saveConfig(doc, 'settings.json'),
          async () => JSON.parse(await readFile(path.join(cpNoBackup.baseDir, 'settings.json'), 'utf8')),
        ),
    },
    {
      label: `steno 4: ${burst} un-awaited write (coalesces, no fsync)`,
      measure: () => fire('steno', (doc) => steno.write(JSON.stringify(doc, null, 2)), async () => JSON.parse(await readFile(stenoFile, 'utf8'))),
    },
    {
      label: `write-file-atomic 7: ${burst} un-awaited (queued, no coalescing)`,
      slow: true,
      measure: () => fire('write-file-atomic', (doc) => writeFileAtomic(wfaFile, JSON.stringify(doc, null, 2)), async () => JSON.parse(await readFile(wfaFile, 'utf8'))),
    },
  ];

  // Warm-up (and the first content checks); write-file-atomic writes every save, so it is skipped.
  for (const c of candidates) if (!c.slow) await c.measure();
  const samples = candidates.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < candidates.length; k++) {
      const i = (k + r) % candidates.length;
      samples[i].push(await candidates[i].measure());
    }
    progress(`burst round ${r + 1}/${rounds}: floor×${floorCount} ${samples[0].at(-1).toFixed(1)} ms, ours ${samples[1].at(-1).toFixed(1)} ms`);
  }
  await cpDefault.close();
  await cpNoBackup.close();

  const floor = samples[0];
  const rows = candidates.map((c, i) => {
    const row = {
      label: c.label,
      median_ms: round(median(samples[i])),
      ratio: round(median(samples[i].map((ms, r) => ms / floor[r])), 2),
    };
    if (c.target) row.target = c.target;
    return row;
  });
  return {
    name: 'burst',
    description,
    rows,
    notes: [
      `ratio = burst time / time of ${floorCount} sequential floor writes in the same round; every promise resolved and the final file held the last save.`,
    ],
  };
}
