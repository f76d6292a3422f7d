/**
 * Group commit (#19): 16 saves of 16 different files of one store issued together
 * (`Promise.all` over 16 `saveConfig` calls), against 16 floor writes of 16 files made one after
 * another (the durable atomic replace with synchronous system calls, as in the save scenario).
 * Saves of different files that are in flight together can share the disk's work: the fsyncs
 * overlap, one directory fsync serves every rename of the batch. Target ≤ 0.6× the sequential floor.
 *
 * A bare writer is the reference of what sharing can buy: 16 temp files written synchronously,
 * their 16 fsyncs issued together on the thread pool, 16 renames, one directory fsync
 * (FACTS.md: 0.41-0.48× here). Every candidate is timed in the same rounds, interleaved in a
 * rotating order; ratios are per round, then the median.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DIST, floorWriteSync, groupFloorWrite, groupProtocolWrite, makeConfig, median, now, progress, round } from './lib.mjs';

export const description = '16 saves of 16 different files issued together, against 16 sequential floor writes';

const FILES = 16;

export async function run({ quick, rounds, workDir }) {
  const { ConfigPersistence } = await import(pathToFileURL(DIST).href);
  const perRound = quick ? 2 : 10; // batches of 16 per candidate per round
  const warmup = quick ? 1 : 3;
  const base = makeConfig(2048);
  let revision = 0;
  /** 16 new documents, one per file: identical content can be a no-op. */
  const batch = () => {
    revision++;
    return Array.from({ length: FILES }, (_, f) => ({ ...base, app: { ...base.app, file: f, revision } }));
  };
  const names = Array.from({ length: FILES }, (_, f) => `service-${String(f).padStart(2, '0')}.json`);
  const dirOf = async (name) => {
    const d = path.join(workDir, name);
    await mkdir(d, { recursive: true });
    return d;
  };
  const floorDir = await dirOf('floor');
  const bareDir = await dirOf('bare-group');
  const protocolDir = await dirOf('protocol-group');
  const protocolState = {};
  const cpNoBackup = new ConfigPersistence({ baseDir: await dirOf('cp-nobackup'), backupOnWrite: false });
  const cpDefault = new ConfigPersistence({ baseDir: await dirOf('cp-default') });
  const cpSequential = new ConfigPersistence({ baseDir: await dirOf('cp-sequential') });
  const bytes = (doc) => Buffer.from(JSON.stringify(doc, null, 2));

  /** Checks that every file holds the batch's content (a fast save that lost a file is no result). */
  const check = async (label, dir, docs) => {
    for (let f = 0; f < FILES; f++) {
      const got = JSON.parse(await readFile(path.join(dir, names[f]), 'utf8'));
      if (got.app?.revision !== docs[f].app.revision || got.app.file !== f) throw new Error(`${label}: ${names[f]} holds revision ${got.app?.revision}, expected ${docs[f].app.revision}`);
    }
  };
  const candidates = [
    {
      label: `floor × ${FILES} files, one after another (synchronous syscalls)`,
      kind: 'baseline',
      dir: floorDir,
      save: async (docs) => {
        for (let f = 0; f < FILES; f++) floorWriteSync(path.join(floorDir, names[f]), bytes(docs[f]));
      },
    },
    {
      label: `bare group writer: ${FILES} fsyncs overlapped, one directory fsync`,
      kind: 'reference',
      dir: bareDir,
      save: (docs) => groupFloorWrite(docs.map((doc, f) => [path.join(bareDir, names[f]), bytes(doc)])),
    },
    {
      label: `the save protocol by hand for ${FILES} files together: + history links and lines (${FILES * 2 + 1} fsyncs overlapped), one directory fsync`,
      kind: 'reference',
      dir: protocolDir,
      save: (docs) => groupProtocolWrite(docs.map((doc, f) => [path.join(protocolDir, names[f]), bytes(doc)]), protocolState),
    },
    {
      label: `config-persistence: ${FILES} saveConfig together (backupOnWrite: false)`,
      dir: cpNoBackup.baseDir,
      target: { metric: 'ratio', max: 0.6, text: `≤ 0.6× ${FILES} floor writes` },
      save: (docs) => Promise.all(docs.map((doc, f) => cpNoBackup.saveConfig(doc, names[f]))),
    },
    {
      label: `config-persistence: ${FILES} saveConfig together (default: with backup)`,
      dir: cpDefault.baseDir,
      target: { metric: 'ratio', max: 0.6, text: `≤ 0.6× ${FILES} floor writes` },
      save: (docs) => Promise.all(docs.map((doc, f) => cpDefault.saveConfig(doc, names[f]))),
    },
    {
      label: `config-persistence: ${FILES} saveConfig one after another (default, reference)`,
      kind: 'reference',
      dir: cpSequential.baseDir,
      save: async (docs) => {
        for (let f = 0; f < FILES; f++) await cpSequential.saveConfig(docs[f], names[f]);
      },
    },
  ];

  /** `n` batches of one candidate; the mean ms per batch of 16. */
  const measure = async (c, n) => {
    let total = 0;
    for (let k = 0; k < n; k++) {
      const docs = batch();
      const start = now();
      await c.save(docs);
      total += now() - start;
      if (k === n - 1) await check(c.label, c.dir, docs);
    }
    return total / n;
  };
  for (const c of candidates) await measure(c, warmup); // files exist, backups taken: the steady state
  const samples = candidates.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < candidates.length; k++) {
      const i = (k + r) % candidates.length;
      samples[i].push(await measure(candidates[i], perRound));
    }
    progress(`group round ${r + 1}/${rounds}: ${samples.map((s) => s.at(-1).toFixed(1)).join(' / ')} ms per batch`);
  }
  await Promise.all([cpNoBackup.close(), cpDefault.close(), cpSequential.close()]);

  const floor = samples[0];
  const rows = candidates.map((c, i) => {
    const ratios = samples[i].map((ms, r) => ms / floor[r]);
    const row = { label: c.label, median_ms: round(median(samples[i])), ratio: round(median(ratios), 2) };
    if (c.kind) row.kind = c.kind;
    if (c.target) row.target = c.target;
    if (i > 0 && rounds > 1) row.note = `per-round ratios ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}×`;
    return row;
  });
  return {
    name: 'group',
    description,
    rows,
    notes: [
      `${perRound} batches of ${FILES} 2 KB JSON files per candidate per round, ${rounds} round(s), after ${warmup} warm-up batch(es); the time is the mean per batch (all ${FILES} acknowledged), the ratio the median of per-round ratios to the ${FILES} sequential floor writes; every file's content is checked after the last batch.`,
    ],
  };
}
