/**
 * Hot reload latency: from an external atomic replace of a config file (temp file + rename, the
 * way careful editors and tools save) to the library's listener holding the new data. p50 and p95
 * over many isolated changes, for config-persistence's `watch`, c12's `watchConfig` and conf's
 * `watch` option (`onDidAnyChange`) in the same run, interleaved round by round.
 *
 * conf polls the file with `fs.watchFile` on Linux (~5 s) and debounces 1 s, so each of its samples
 * costs seconds: it gets only a few samples (none in --quick mode) and the table says so. A sample
 * that never arrives within its deadline is counted as a miss (c12 watches single files, which can
 * go silent after a rename-over) and left out of the percentiles.
 *
 * Runs as a scenario of bench/run.mjs, or alone: `node bench/watch.mjs [--quick]` (after a build).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DIST, makeConfig, now, percentile, progress, round } from './lib.mjs';

export const description = 'hot reload: external atomic replace → listener, p50/p95 (conf: few samples, it polls)';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let tempCounter = 0;

/** In-place write (truncate + write, as `fs.writeFile` and some editors do). */
function overwrite(file, data) {
  const text = `${JSON.stringify(data, null, 2)}\n`;
  const t0 = now();
  writeFileSync(file, text);
  return t0;
}

/** Atomic replace, the way editors and tools save: a temp file beside it, then rename over. */
function replace(file, data) {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}-${++tempCounter}.tmp`);
  writeFileSync(temp, `${JSON.stringify(data, null, 2)}\n`);
  const t0 = now();
  renameSync(temp, file);
  return t0;
}

/**
 * One candidate: `start()` opens its watcher and returns `{ file, close }`; the listener it installs
 * calls `seen(seq, at)`. Samples write `seq` and wait for it.
 */
function candidate(label, start, opts) {
  const state = { label, write: replace, ...opts, latencies: [], misses: 0, waiting: undefined };
  state.seen = (seq) => {
    const w = state.waiting;
    if (w && seq === w.seq) {
      state.waiting = undefined;
      w.resolve(now());
    }
  };
  state.start = () => start(state.seen);
  return state;
}

async function sample(c, file, seq, base) {
  const arrived = new Promise((resolve) => {
    c.waiting = { seq, resolve };
  });
  const t0 = c.write(file, { ...base, seq });
  const deadline = sleep(c.deadlineMs).then(() => undefined);
  const t1 = await Promise.race([arrived, deadline]);
  c.waiting = undefined;
  if (t1 === undefined) c.misses++;
  else c.latencies.push(t1 - t0);
  // Isolated changes: a pause before the next one (random, so nothing locks onto a timer phase).
  await sleep(c.gapMs + Math.random() * c.gapMs);
}

export async function run({ quick = false, rounds, workDir }) {
  const { ConfigPersistence, DEFAULT_DEBOUNCE_MS } = await import(pathToFileURL(DIST).href);
  const { watchConfig } = await import('c12');
  const { default: Conf } = await import('conf');
  const base = makeConfig(2048);
  const roundCount = rounds ?? (quick ? 1 : 4);
  const dirOf = async (name) => {
    const d = path.join(workDir, name);
    await mkdir(d, { recursive: true });
    return d;
  };

  const cp = candidate(
    `config-persistence watch (debounce ${DEFAULT_DEBOUNCE_MS} ms)`,
    async (seen) => {
      const dir = await dirOf('cp');
      const file = path.join(dir, 'current.json');
      replace(file, { ...base, seq: -1 });
      const store = new ConfigPersistence({ baseDir: dir, schemaDir: path.join(dir, 'schemas') });
      await store.watch('current.json', (event) => seen(event.data.seq), {
        onError: (error) => progress(`config-persistence onError: ${error.message}`),
      });
      return { file, close: () => store.close() };
    },
    { total: quick ? 20 : 200, deadlineMs: 2000, gapMs: 20 },
  );
  const cpInPlace = candidate(
    'config-persistence watch, in-place writes (two reads must agree)',
    async (seen) => {
      const dir = await dirOf('cp-in-place');
      const file = path.join(dir, 'current.json');
      replace(file, { ...base, seq: -1 });
      const store = new ConfigPersistence({ baseDir: dir, schemaDir: path.join(dir, 'schemas') });
      await store.watch('current.json', (event) => seen(event.data.seq), {
        onError: (error) => progress(`config-persistence onError: ${error.message}`),
      });
      return { file, close: () => store.close() };
    },
    { total: quick ? 10 : 60, deadlineMs: 2000, gapMs: 20, write: overwrite },
  );
  const c12 = candidate(
    'c12 watchConfig (chokidar on the file, 100 ms debounce)',
    async (seen) => {
      const dir = await dirOf('c12');
      // .jsonc, not .json: c12 imports .json through jiti, which handed back the old content on
      // reload when we tried (c12 3.3.4); .jsonc is read and parsed fresh by confbox.
      const file = path.join(dir, 'app.config.jsonc');
      replace(file, { ...base, seq: -1 });
      const watcher = await watchConfig({
        cwd: dir,
        name: 'app',
        rcFile: false,
        packageJson: false,
        dotenv: false,
        globalRc: false,
        onUpdate: ({ newConfig }) => seen(newConfig.config.seq),
      });
      return { file, close: () => watcher.unwatch() };
    },
    { total: quick ? 10 : 80, deadlineMs: 3000, gapMs: 60 },
  );
  const conf = candidate(
    'conf watch: true, onDidAnyChange (fs.watchFile polling)',
    async (seen) => {
      const dir = await dirOf('conf');
      const store = new Conf({ cwd: dir, configName: 'config', watch: true, projectName: 'bench' });
      replace(store.path, { ...base, seq: -1 });
      store.onDidAnyChange((value) => seen(value?.seq));
      return { file: store.path, close: () => store._closeWatcher?.() };
    },
    { total: quick ? 0 : 6, deadlineMs: 12_000, gapMs: 200 },
  );
  const all = [cp, cpInPlace, c12, conf];

  const running = [];
  for (const c of all) if (c.total > 0) running.push([c, await c.start()]);
  let seq = 0;
  for (let r = 0; r < roundCount; r++) {
    for (const [c, watched] of running) {
      const n = Math.ceil(c.total / roundCount);
      progress(`round ${r + 1}/${roundCount}: ${c.label} × ${n}`);
      for (let i = 0; i < n && c.latencies.length + c.misses < c.total; i++) await sample(c, watched.file, ++seq, base);
    }
  }
  for (const [, watched] of running) await watched.close();

  const cpP50 = percentile(cp.latencies, 50);
  const stats = (c) => ({
    p50_ms: round(percentile(c.latencies, 50), 1),
    p95_ms: round(percentile(c.latencies, 95), 1),
    max_ms: round(Math.max(...c.latencies), 1),
  });
  const note = (c, extra) => [`${c.latencies.length} samples`, c.misses ? `${c.misses} missed (no event within ${c.deadlineMs / 1000} s)` : '', extra].filter(Boolean).join('; ');
  const rows = [
    { label: `${cp.label}: p50`, ...stats(cp), ratio: 1, target: { metric: 'p50_ms', max: 30, text: 'p50 ≤ 30 ms' }, note: note(cp) },
    { label: `${cp.label}: p95`, ...stats(cp), ratio: 1, target: { metric: 'p95_ms', max: 100, text: 'p95 ≤ 100 ms' }, note: 'same samples' },
    { label: cpInPlace.label, ...stats(cpInPlace), ratio: round(percentile(cpInPlace.latencies, 50) / cpP50, 1), note: note(cpInPlace, 'reference: the targets are for atomic replace') },
    { label: c12.label, ...stats(c12), ratio: round(percentile(c12.latencies, 50) / cpP50, 1), note: note(c12) },
  ];
  if (conf.total > 0) {
    rows.push({
      label: conf.label,
      ...stats(conf),
      ratio: round(percentile(conf.latencies, 50) / cpP50, 1),
      note: note(conf, 'few samples on purpose: each costs seconds'),
    });
  }
  return {
    name: 'watch',
    rows,
    notes: [
      'Latency = from the rename that publishes the new file to the listener holding the new data (same process, monotonic clock).',
      'config-persistence: directory watch + raw events, debounce, parse + validate, content hash; c12 reloads the whole config through jiti/confbox.',
      quick ? 'conf skipped in --quick mode (it polls every ~5 s).' : 'conf: fs.watchFile polls every ~5 s on Linux, then a 1 s debounce.',
    ],
  };
}

// Standalone: `node bench/watch.mjs [--quick]`.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'cp-bench-watch-'));
  try {
    const result = await run({ quick: process.argv.includes('--quick'), workDir });
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
