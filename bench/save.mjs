/**
 * Sequential durable save of a 2 KB JSON config: one awaited save after another, each with new
 * content. The floor is the disk's own cost: the durable atomic replace done by hand in this
 * process with synchronous system calls (temp file, write, fsync, close, rename, open the
 * directory, fsync it, close it); the same sequence through fs.promises is a reference row. Every
 * candidate is timed in the same rounds, interleaved, in a rotating order.
 *
 * Beside the times, the event loop's longest stall while config-persistence saves (200 saves in a
 * row, 20 with --quick), as a ratio to the longest stall of an idle loop over the same time,
 * measured in the same rounds (#19: a save never holds the loop for an fsync).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import writeFileAtomic from 'write-file-atomic';
import { writeFile as atomicallyWriteFile } from 'atomically';
import { Writer as StenoWriter } from 'steno';
import Conf from 'conf';
import {
  DIST,
  floorWrite,
  floorWriteSync,
  protocolWrite,
  idleFor,
  makeConfig,
  median,
  monitorStalls,
  percentile,
  progress,
  round,
  spreadOf,
  STALL_RESOLUTION_MS,
  timeEach,
  timeInterleaved,
} from './lib.mjs';

export const description = 'sequential durable save of a 2 KB JSON config';

/** How durable each candidate is, in the terms of the SPEC (fsync file, fsync directory). */
const DURABILITY = {
  'write-file-atomic': 'less durable: fsyncs the file but not the directory after the rename; ignores short writes',
  atomically: 'less durable: fsyncs the file but not the directory after the rename; ignores short writes',
  steno: 'least durable: never fsyncs (a power cut can leave an empty file); coalesces',
  conf: 'less durable: synchronous atomically write (fsyncs the file, not the directory); blocks the event loop',
};

/**
 * One round of stall windows: `saves` saves of each config-persistence candidate in a row under the
 * event-loop monitor (order rotated by `round`), then an idle loop for as long as the longest
 * window. Returns the longest stall of each (ms beyond the timer's interval) and the longest GC pause.
 */
async function stallRound(candidates, ours, saves, round) {
  const result = { ours: new Map(), idle: 0, gcMax: 0 };
  let longest = 0;
  for (let k = 0; k < ours.length; k++) {
    const i = ours[(k + round) % ours.length];
    const m = await monitorStalls(async () => {
      for (let n = 0; n < saves; n++) await candidates[i].save();
    });
    result.ours.set(i, m.max);
    result.gcMax = Math.max(result.gcMax, m.gcMax);
    longest = Math.max(longest, m.elapsed);
  }
  const idle = await monitorStalls(() => idleFor(longest));
  result.idle = idle.max;
  return result;
}

export async function run({ quick, rounds, workDir }) {
  const { ConfigPersistence } = await import(pathToFileURL(DIST).href);
  const perRound = quick ? 10 : 100;
  const stallSaves = quick ? 20 : 200;
  const warmup = quick ? 3 : 20;
  const base = makeConfig(2048);
  let revision = 0;
  /** Fresh content for every save: identical content is a no-op for some candidates. */
  const next = () => ({ ...base, app: { ...base.app, revision: ++revision } });
  const text = () => JSON.stringify(next(), null, 2);

  const dir = async (name) => {
    const d = path.join(workDir, name);
    await mkdir(d, { recursive: true });
    return d;
  };
  const floorFile = path.join(await dir('floor'), 'settings.json');
  const promisesFile = path.join(await dir('floor-promises'), 'settings.json');
  const protocolFile = path.join(await dir('protocol'), 'settings.json');
  const protocolState = {};
  const cpNoBackup = new ConfigPersistence({ baseDir: await dir('cp-nobackup'), backupOnWrite: false });
  const cpDefault = new ConfigPersistence({ baseDir: await dir('cp-default') });
  const wfaFile = path.join(await dir('wfa'), 'settings.json');
  const atomFile = path.join(await dir('atomically'), 'settings.json');
  const steno = new StenoWriter(path.join(await dir('steno'), 'settings.json'));
  const conf = new Conf({ cwd: await dir('conf'), configName: 'settings', projectName: 'bench' });

  const candidates = [
    {
      key: 'floor',
      label: 'floor: temp+write+fsync+close+rename+fsync dir (synchronous syscalls, by hand)',
      save: async () => floorWriteSync(floorFile, Buffer.from(text())),
    },
    {
      key: 'promises',
      kind: 'reference',
      label: 'same eight calls through fs.promises (by hand)',
      save: () => floorWrite(promisesFile, Buffer.from(text())),
    },
    {
      key: 'protocol',
      kind: 'reference',
      label: 'the save protocol by hand: + history link and line, 4 fsyncs (3 together, then the directory)',
      save: () => protocolWrite(protocolFile, Buffer.from(text()), protocolState),
    },
    {
      key: 'ours',
      label: 'config-persistence saveConfig (backupOnWrite: false)',
      save: () => cpNoBackup.saveConfig(next(), 'settings.json'),
      target: { metric: 'ratio', max: 1.25, text: '≤ 1.25× floor' },
    },
    {
      key: 'ours',
      label: 'config-persistence saveConfig (default: with backup)',
      save: () => cpDefault.saveConfig(next(), 'settings.json'),
      target: { metric: 'ratio', max: 1.5, text: '≤ 1.5× floor' },
    },
    { key: 'write-file-atomic', label: 'write-file-atomic 7', save: () => writeFileAtomic(wfaFile, text()) },
    { key: 'atomically', label: 'atomically 2', save: () => atomicallyWriteFile(atomFile, text()) },
    { key: 'steno', label: 'steno 4', save: () => steno.write(text()) },
    {
      key: 'conf',
      label: 'conf 15 (store = …, synchronous)',
      save: () => {
        conf.store = next();
      },
    },
  ];

  for (const c of candidates) await timeEach(warmup, c.save);
  const samples = candidates.map(() => []);
  const calls = candidates.map(() => []);
  // Each round in interleaved blocks: a short block sees the same disk as its neighbours.
  const blocks = quick ? 1 : 5;
  const ours = candidates.map((c, i) => i).filter((i) => candidates[i].key === 'ours');
  const stalls = new Map(ours.map((i) => [i, []]));
  const idleStalls = [];
  const gcMax = [];
  for (let r = 0; r < rounds; r++) {
    (await timeInterleaved(candidates, perRound, blocks, r, calls)).forEach((ms, i) => samples[i].push(ms));
    const stall = await stallRound(candidates, ours, stallSaves, r);
    for (const i of ours) stalls.get(i).push(stall.ours.get(i));
    idleStalls.push(stall.idle);
    gcMax.push(stall.gcMax);
    progress(
      `save round ${r + 1}/${rounds}: floor ${samples[0].at(-1).toFixed(3)} ms, ours ${ours.map((i) => samples[i].at(-1).toFixed(3)).join(' / ')} ms; ` +
        `longest stall idle ${stall.idle.toFixed(2)} ms, ours ${ours.map((i) => stall.ours.get(i).toFixed(2)).join(' / ')} ms`,
    );
  }
  await cpNoBackup.close();
  await cpDefault.close();

  // Ratios per round (both measured in the same round), then the median: robust to noisy rounds.
  const floor = samples[0];
  const rows = candidates.map((c, i) => {
    const ratios = samples[i].map((ms, r) => ms / floor[r]);
    const spread = spreadOf(calls[i], calls[0]);
    const row = {
      label: c.label,
      median_ms: round(median(samples[i])),
      ratio: round(median(ratios), 2),
      p50_ms: spread.p50_ms,
      p95_ms: spread.p95_ms,
      p50_ratio: spread.p50_ratio,
      // How far one round strays: the verdict is the median, and a reader should see its footing.
      ratio_quartiles: [percentile(ratios, 25), percentile(ratios, 75)].map((x) => round(x, 2)),
      ratio_range: [Math.min(...ratios), Math.max(...ratios)].map((x) => round(x, 2)),
    };
    if (DURABILITY[c.key]) row.note = DURABILITY[c.key];
    else if (i > 0) {
      row.note = `single saves: p50 ${spread.p50_ratio}× the floor's p50; per-round ratios ${row.ratio_quartiles.join('–')}× (quartiles), ${row.ratio_range.join('–')}× (all ${rounds})`;
    }
    if (c.target) row.target = c.target;
    if (c.kind) row.kind = c.kind;
    return row;
  });
  const idle = median(idleStalls);
  rows.push({
    kind: 'baseline',
    label: `event loop idle for as long as the saves below (longest stall)`,
    max_ms: round(idle, 2),
    note: `per round: ${idleStalls.map((x) => x.toFixed(2)).join(', ')} ms`,
  });
  for (const i of ours) {
    // A ratio to an idle stall below the timer's resolution measures nothing: the idle figure is
    // counted as at least one resolution (1 ms) in the ratio.
    const ratios = stalls.get(i).map((ms, r) => ms / Math.max(idleStalls[r], STALL_RESOLUTION_MS));
    rows.push({
      kind: 'ours',
      label: `config-persistence: event loop's longest stall during ${stallSaves} saves ${candidates[i].label.replace('config-persistence saveConfig ', '')}`,
      max_ms: round(median(stalls.get(i)), 2),
      ratio: round(median(ratios), 2),
      target: { metric: 'ratio', max: 3, text: '≤ 3× idle' },
      note: `ratio to the idle loop's longest stall in the same round (counted as ≥ ${STALL_RESOLUTION_MS} ms); longest GC pause in the windows ${median(gcMax).toFixed(1)} ms`,
    });
  }
  return {
    name: 'save',
    description,
    rows,
    notes: [
      `${perRound} awaited saves per candidate per round (in ${blocks} interleaved blocks), ${rounds} round(s); the time is the mean per save, the ratio the median of per-round ratios to the floor; p50/p95 are of single saves.`,
      'The floor is the disk\'s cost: the eight system calls made synchronously (it holds the event loop for both fsyncs, which a library must not do). The fs.promises row is the same calls, each a round trip through libuv\'s thread pool.',
      `Stall rows: in every round, after the timed blocks, ${stallSaves} saves of each config-persistence candidate in a row under monitorEventLoopDelay (${STALL_RESOLUTION_MS} ms timer; the stall is the delay beyond the interval), and an idle loop for as long as the longer of them; medians over rounds.`,
      'Only the two floor rows, the protocol row and config-persistence make the rename durable (directory fsync). A config-persistence save waits for four fsyncs in two rounds (temp file, history line and the directory that got the old content\'s link, then the base directory), where the floor waits for two; the audit line is fsynced in the background. The protocol row makes exactly those four fsyncs by hand, with nothing else: on a disk where concurrent flushes do not merge it is the bound a save that keeps history can reach. The peers are faster partly because they skip the directory fsync.',
    ],
  };
}
