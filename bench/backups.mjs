/**
 * The cost of backups on the save path, two questions:
 *
 * 1. A durable save that also takes the automatic backup (hard link + index record + history line +
 *    retention), against the disk's floor: temp file + write + fsync + close + rename + fsync of the
 *    directory, done by hand in this process with synchronous system calls. Target ≤ 1.5× the floor.
 * 2. The same save in a directory that already holds 10,000 backups (of 1,000 other files, ten
 *    each, plus the saved file's own at its limit), against a directory with none. Target ≤ 1.2×:
 *    retention must not scan or re-read anything that grows with the number of backups.
 *
 * Every candidate is timed in the same rounds, interleaved in a rotating order, after a warm-up
 * that brings each store to its steady state (maxBackups reached, so every save also removes one).
 *
 * Harness scenario (`node bench/run.mjs --only backups`), or standalone:
 * `npm run build && node bench/backups.mjs [--quick] [--rounds N]` prints the table itself.
 */
import { link, mkdir, mkdtemp, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DIST, floorWriteSync, makeConfig, median, progress, round, spreadOf, timeEach, timeInterleaved } from './lib.mjs';

export const description = 'save with automatic backup vs. the raw durable floor; save with 10,000 existing backups vs. none';

/**
 * Seeds `files × perFile` backups shaped exactly like records the library writes (one real record
 * is taken as the template), as hard links to one file: creating 10,000 through the API would take
 * minutes of fsyncs and measure nothing new.
 */
async function seedBackups(ConfigPersistence, dir, files, perFile) {
  const cp = new ConfigPersistence({ baseDir: dir, schemaDir: path.join(dir, 'no-schemas') });
  await cp.saveConfig({ seed: true }, 'seed.json');
  const template = await cp.createBackup('seed.json');
  await cp.deleteBackup(template.id);
  await cp.close();
  const source = path.join(dir, 'backups', 'seed-source');
  await writeFile(source, await readFile(path.join(dir, 'seed.json')));
  const start = Date.parse('2020-01-01T00:00:00.000Z');
  const lines = [];
  const ids = [];
  for (let f = 0; f < files; f++) {
    for (let i = 0; i < perFile; i++) {
      const at = new Date(start + (f * perFile + i) * 1000);
      const id = `other-${f}.${at.toISOString().replace(/[-:]/g, '')}.json`;
      ids.push(id);
      lines.push(JSON.stringify({ op: 'add', ...template, id, file: `other-${f}.json`, createdAt: at.toISOString(), trigger: 'overwrite' }));
    }
  }
  for (let i = 0; i < ids.length; i += 500) await Promise.all(ids.slice(i, i + 500).map((id) => link(source, path.join(dir, 'backups', id))));
  await rm(source);
  await appendFile(path.join(dir, 'backups', 'index.jsonl'), `${lines.join('\n')}\n`);
}

export async function run({ quick, rounds, workDir }) {
  const { ConfigPersistence } = await import(pathToFileURL(DIST).href);
  rounds = rounds ?? (quick ? 1 : 5);
  const perRound = quick ? 10 : 100;
  const warmup = quick ? 12 : 30;
  const base = makeConfig(2048);
  let revision = 0;
  const next = () => ({ ...base, app: { ...base.app, revision: ++revision } });

  const dirOf = async (name) => {
    const d = path.join(workDir, name);
    await mkdir(d, { recursive: true });
    return d;
  };
  const floorFile = path.join(await dirOf('floor'), 'settings.json');
  const noBackupDir = await dirOf('cp-no-backup');
  const noneDir = await dirOf('cp-none');
  const manyDir = await dirOf('cp-10000');
  progress('seeding 10,000 backups');
  await seedBackups(ConfigPersistence, manyDir, 1000, 10);
  const open = (baseDir, extra = {}) => new ConfigPersistence({ baseDir, schemaDir: path.join(baseDir, 'no-schemas'), ...extra });
  const cpNoBackup = open(noBackupDir, { backupOnWrite: false });
  const cpNone = open(noneDir);
  const cpMany = open(manyDir);

  const candidates = [
    {
      key: 'floor',
      label: 'floor: temp+write+fsync+close+rename+fsync dir (synchronous syscalls, by hand)',
      save: async () => floorWriteSync(floorFile, Buffer.from(JSON.stringify(next(), null, 2))),
    },
    { key: 'nobackup', label: 'saveConfig, backupOnWrite: false (reference)', save: () => cpNoBackup.saveConfig(next(), 'settings.json') },
    { key: 'none', label: 'saveConfig with automatic backup, no other backups', save: () => cpNone.saveConfig(next(), 'settings.json') },
    { key: 'many', label: 'saveConfig with automatic backup, 10,000 existing backups', save: () => cpMany.saveConfig(next(), 'settings.json') },
  ];
  for (const c of candidates) await timeEach(warmup, c.save); // steady state: retention removes one per save
  const samples = candidates.map(() => []);
  const calls = candidates.map(() => []);
  const blocks = quick ? 1 : 5; // interleaved blocks per round: each candidate sees the same disk drift
  for (let r = 0; r < rounds; r++) {
    (await timeInterleaved(candidates, perRound, blocks, r, calls)).forEach((ms, i) => samples[i].push(ms));
    progress(`backups round ${r + 1}/${rounds}: ${candidates.map((c, i) => `${c.key} ${samples[i].at(-1).toFixed(3)}`).join(', ')} ms`);
  }
  const backupsInMany = (await cpMany.listBackups()).length;
  await Promise.all([cpNoBackup.close(), cpNone.close(), cpMany.close()]);

  const ratio = (a, b) => round(median(samples[a].map((ms, r) => ms / samples[b][r])), 2);
  const row = (i, extra) => {
    const { p50_ms, p95_ms } = spreadOf(calls[i], calls[0]);
    return { label: candidates[i].label, median_ms: round(median(samples[i])), p50_ms, p95_ms, ...extra };
  };
  return {
    name: 'backups',
    description,
    rows: [
      row(0, { ratio: 1, note: 'fsyncs the file and the directory' }),
      row(1, { ratio: ratio(1, 0), note: 'no backup; history and audit lines still written' }),
      row(2, {
        ratio: ratio(2, 0),
        target: { metric: 'ratio', max: 1.5, text: '≤ 1.5× floor' },
        note: 'hard-link backup + index record + history + audit; retention removes one backup per save',
      }),
      row(3, {
        ratio: ratio(3, 2),
        target: { metric: 'ratio', max: 1.2, text: '≤ 1.2× no other backups' },
        note: `ratio against the row above; ${backupsInMany} backups listed at the end`,
      }),
    ],
    notes: [
      `${perRound} awaited saves of a 2 KB JSON config per candidate per round (in ${blocks} interleaved blocks), ${rounds} round(s), after ${warmup} warm-up saves; ratios are medians of per-round ratios.`,
      'The 10,000 backups belong to 1,000 other files (10 each); the saved file is at maxBackups (10), so each save adds one backup and retention removes one.',
    ],
  };
}

/** Standalone: `node bench/backups.mjs [--quick] [--rounds N]`. */
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const at = args.indexOf('--rounds');
  const rounds = at === -1 ? undefined : Number(args[at + 1]);
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'cp-bench-backups-'));
  try {
    const result = await run({ quick, rounds, workDir });
    process.stdout.write(`${result.description}\n\n`);
    for (const r of result.rows) {
      const verdict = r.target ? (r[r.target.metric] <= r.target.max ? 'PASS' : 'MISS') : '';
      process.stdout.write(
        `${r.label.padEnd(62)} ${String(r.median_ms).padStart(8)} ms  ${String(r.ratio).padStart(5)}×  ${r.target ? `${r.target.text} ${verdict}` : ''}\n`,
      );
    }
    for (const n of result.notes) process.stdout.write(`\n${n}`);
    process.stdout.write('\n');
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
