/**
 * Restart after a crash (#18): the time from spawning a fresh process to its first acknowledged
 * save, when the previous process was killed with SIGKILL while it held the file's lock (inside
 * `update()`, its function waiting), as a ratio to the same first save after a clean exit of the
 * previous process. The lock of a dead holder must be recognised at once: every restart of a
 * crashed application would otherwise wait for the lock to go stale. Target ≤ 1.5× the clean start.
 *
 * Real child processes, real SIGKILL. Each measurement gets a directory of its own, prepared the
 * same way for both cases: one save of the file, then a process that enters `update()` on it —
 * killed inside its function (crashed holder) or left to finish and exit (clean start). A fresh
 * `node` that only imports the library is a reference row: the process's own start cost.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DIST, makeConfig, median, now, progress, round } from './lib.mjs';

export const description = 'first save of a fresh process after a kill -9 of the lock holder, against a clean start';

const FILE = 'settings.json';
/** The saver gives up after this long (the library's own lock timeout is 10 s). */
const SAVER_TIMEOUT_MS = 30_000;

/** The previous process: enters update() on the file; `block` waits inside its function until killed. */
function holderScript() {
  return `const [dir, mode] = process.argv.slice(2);
const { ConfigPersistence } = await import(${JSON.stringify(pathToFileURL(DIST).href)});
const cp = new ConfigPersistence({ baseDir: dir });
const keepAlive = setInterval(() => {}, 1000);
await cp.update(${JSON.stringify(FILE)}, async (current) => {
  process.stdout.write('inside\\n');
  if (mode === 'block') await new Promise(() => {}); // held until SIGKILL
  return { ...current, app: { ...current.app, holder: process.pid } };
});
await cp.close();
clearInterval(keepAlive);
process.stdout.write('done\\n');
`;
}

/** The fresh process: imports, saves once, reports the acknowledgement on stdout. */
function saverScript() {
  return `const [dir, mode] = process.argv.slice(2);
const { ConfigPersistence } = await import(${JSON.stringify(pathToFileURL(DIST).href)});
if (mode === 'import-only') {
  process.stdout.write('saved\\n');
  process.exit(0);
}
const { makeConfig } = await import(${JSON.stringify(pathToFileURL(path.join(path.dirname(DIST), '..', 'bench', 'lib.mjs')).href)});
const cp = new ConfigPersistence({ baseDir: dir });
await cp.saveConfig({ ...makeConfig(2048), restartedBy: process.pid }, ${JSON.stringify(FILE)});
process.stdout.write('saved\\n');
await cp.close();
`;
}

/**
 * Spawns `node script args` and resolves when a stdout line equal to `line` arrives (ms since the
 * spawn, the child still running) or when the child exits without it (`failed` with its stderr).
 */
function spawnUntil(script, args, line, opts = {}) {
  const start = now();
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let stdout = '';
  let stderr = '';
  const seen = new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? SAVER_TIMEOUT_MS);
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.split('\n').includes(line)) resolve({ ms: now() - start });
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ ms: now() - start, failed: `exited ${code ?? signal} before "${line}": ${stderr.trim().split('\n').slice(0, 3).join(' | ')}` });
    });
  });
  const exited = new Promise((resolve) => child.on('close', resolve));
  return { child, seen, exited };
}

export async function run({ quick, rounds, workDir }) {
  const { ConfigPersistence } = await import(pathToFileURL(DIST).href);
  const holder = path.join(workDir, 'holder.mjs');
  const saver = path.join(workDir, 'saver.mjs');
  await writeFile(holder, holderScript());
  await writeFile(saver, saverScript());
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  let n = 0;

  /** A directory with one save of the file, then a previous process that entered update() on it. */
  const prepare = async (mode) => {
    const dir = path.join(workDir, `run-${++n}-${mode}`);
    await mkdir(dir, { recursive: true });
    const cp = new ConfigPersistence({ baseDir: dir });
    await cp.saveConfig(makeConfig(2048), FILE);
    await cp.close();
    const prev = spawnUntil(holder, [dir, mode], mode === 'block' ? 'inside' : 'done', { env, cwd: workDir });
    const got = await prev.seen;
    if (got.failed) throw new Error(`the previous process (${mode}) ${got.failed}`);
    if (mode === 'block') prev.child.kill('SIGKILL');
    await prev.exited;
    return dir;
  };
  /** Time from spawn to the first acknowledged save of a fresh process in `dir`. */
  const firstSave = async (dir, mode = 'save') => {
    const fresh = spawnUntil(saver, [dir, mode], 'saved', { env, cwd: workDir });
    const got = await fresh.seen;
    await fresh.exited;
    return got;
  };

  const candidates = [
    { key: 'clean', label: 'clean start: first saveConfig after the previous process exited', kind: 'baseline', measure: async () => firstSave(await prepare('finish')) },
    {
      key: 'crash',
      label: 'after kill -9 of a holder inside update(): first saveConfig',
      kind: 'ours',
      target: { metric: 'ratio', max: 1.5, text: '≤ 1.5× clean start' },
      measure: async () => firstSave(await prepare('block')),
    },
    { key: 'import', label: 'fresh node process importing the library, no save (reference)', kind: 'reference', measure: async () => firstSave(path.join(workDir, 'none'), 'import-only') },
  ];
  const perRound = quick ? 1 : 2;
  await candidates[0].measure(); // warm the file cache (node, dist, the library's lazy imports)
  const samples = candidates.map(() => []);
  const failures = candidates.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < candidates.length; k++) {
      const i = (k + r) % candidates.length;
      for (let m = 0; m < perRound; m++) {
        const got = await candidates[i].measure();
        samples[i].push(got.ms);
        if (got.failed) failures[i].push(got.failed);
      }
    }
    progress(`restart round ${r + 1}/${rounds}: ${candidates.map((c, i) => `${c.key} ${samples[i].at(-1).toFixed(0)} ms`).join(', ')}`);
  }

  const clean = median(samples[0]);
  const rows = candidates.map((c, i) => {
    const row = { kind: c.kind, label: c.label, median_ms: round(median(samples[i])), ratio: round(median(samples[i]) / clean, 2) };
    if (c.target) row.target = c.target;
    const spread = `${samples[i].length} fresh processes, ${Math.min(...samples[i]).toFixed(0)}–${Math.max(...samples[i]).toFixed(0)} ms`;
    row.note = failures[i].length ? `${failures[i].length} of ${samples[i].length} saves FAILED (${failures[i][0]}); ${spread}` : spread;
    return row;
  });
  return {
    name: 'restart',
    description,
    rows,
    notes: [
      `time from spawn to the "saved" line a fresh process prints when its first saveConfig resolved; ${perRound} per candidate per round, ${rounds} round(s), interleaved; the ratio is of medians to the clean start.`,
      'Both cases start from the same state: one save of the file, then a process that entered update() on it and was killed inside its function (SIGKILL, lock held) or finished and exited.',
    ],
  };
}
