/**
 * Cost that grows linearly with the directory (#21): the CLI's `validate`, `verify`, `status` and
 * `export` (`node dist/cli.js --dir D <cmd>`, fresh processes) over 10,000 profiles with `extends`
 * chains, against the same over 1,000 (ten times the profiles: target ≤ 12× the time); importing
 * one profile next to 10,000 against importing it into an empty directory (target ≤ 2×). Every
 * row carries the process's peak memory (max RSS, read in the child at exit by a preload).
 *
 * The profiles are written directly as files (no library, no fsync: this is data, not a
 * measurement), in chains of CHAIN: p00000 ← p00001 ← … ← p00009, p00010 ← … Each profile sets a
 * port, a feature flag and a description; a default config and a schema apply to all of them.
 * Every candidate runs in the same rounds, the sizes interleaved in a rotating order; ratios are
 * per round, then the median. `--quick` uses 50 and 500 profiles and skips the warm-up.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DIST, makeConfig, median, now, progress, round } from './lib.mjs';

export const description = 'validate, verify, status, export over 10,000 profiles vs 1,000; import next to 10,000 vs into an empty directory';

const CLI = path.join(path.dirname(DIST), 'cli.js');
/** Profiles per `extends` chain. */
const CHAIN = 10;
const COMMANDS = ['validate', 'verify', 'status', 'export'];
/** Below this much work beyond the fixed cost (ms), a net ratio is noise over noise. */
const NET_MIN_MS = 150;

const nameOf = (i) => `p${String(i).padStart(5, '0')}`;
const count = (n) => n.toLocaleString('en-US');

/** The schema every config and resolved profile is validated against. */
const SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  properties: {
    app: { type: 'object', properties: { name: { type: 'string', minLength: 1 }, version: { type: 'string' } } },
    server: { type: 'object', properties: { host: { type: 'string' }, port: { type: 'integer', minimum: 1, maximum: 65535 } } },
    features: { type: 'object', additionalProperties: { type: 'boolean' } },
  },
};

/** Writes `n` profiles in chains of {@link CHAIN} and a default config into `dir`; returns ms. */
function generate(dir, n) {
  const start = now();
  mkdirSync(path.join(dir, 'profiles'), { recursive: true });
  writeFileSync(path.join(dir, 'default.json'), `${JSON.stringify(makeConfig(2048), null, 2)}\n`);
  for (let i = 0; i < n; i++) {
    const doc = {
      $profile: { description: `generated profile ${i}`, ...(i % CHAIN ? { extends: nameOf(i - 1) } : {}) },
      server: { port: 1024 + (i % 60000) },
      features: { [`flag_${i % 97}`]: i % 2 === 0 },
    };
    writeFileSync(path.join(dir, 'profiles', `${nameOf(i)}.json`), `${JSON.stringify(doc, null, 2)}\n`);
  }
  return now() - start;
}

/** Runs the CLI once in a fresh process; rejects on a non-zero exit. Returns ms and peak RSS (MB). */
function cli(args, { env, rssFile, cwd }) {
  const start = now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', pathToFileURL(path.join(cwd, 'rss.mjs')).href, CLI, ...args], {
      cwd,
      env: { ...env, BENCH_RSS_FILE: rssFile },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', async (code) => {
      const ms = now() - start;
      if (code !== 0) return reject(new Error(`config-persistence ${args.join(' ')} exited ${code}: ${stderr.slice(0, 1500)}`));
      const kb = Number(await readFile(rssFile, 'utf8').catch(() => 'NaN')); // no file: the preload did not run
      resolve({ ms, rssMb: kb / 1024 });
    });
  });
}

export async function run({ quick, rounds, workDir }) {
  const { ConfigPersistence } = await import(pathToFileURL(DIST).href);
  const small = quick ? 50 : 1000;
  const large = small * 10;
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const rssFile = path.join(workDir, 'rss.txt');
  await writeFile(
    path.join(workDir, 'rss.mjs'),
    `import { writeFileSync } from 'node:fs';\nprocess.on('exit', () => writeFileSync(process.env.BENCH_RSS_FILE, String(process.resourceUsage().maxRSS)));\n`,
  );
  const schemaDir = path.join(workDir, 'schemas');
  await mkdir(schemaDir, { recursive: true });
  await writeFile(path.join(schemaDir, 'config.schema.json'), JSON.stringify(SCHEMA, null, 2));
  const dirs = { none: path.join(workDir, 'profiles-0'), small: path.join(workDir, `profiles-${small}`), large: path.join(workDir, `profiles-${large}`) };
  generate(dirs.none, 0);
  const genSmall = generate(dirs.small, small);
  const genLarge = generate(dirs.large, large);
  progress(`scale: wrote ${count(small)} profiles in ${genSmall.toFixed(0)} ms, ${count(large)} in ${genLarge.toFixed(0)} ms`);

  // One bundle per import measurement, each with a profile of its own name (an import next to the
  // large directory must create, not skip). Made with the library from a scratch directory.
  const imports = rounds;
  const bundles = [];
  const source = path.join(workDir, 'bundle-source');
  await mkdir(path.join(source, 'profiles'), { recursive: true });
  const cp = new ConfigPersistence({ baseDir: source, schemaDir });
  for (let k = 0; k <= imports; k++) {
    const name = `imported-${k}`;
    await writeFile(path.join(source, 'profiles', `${name}.json`), `${JSON.stringify({ $profile: { description: 'one imported profile' }, server: { port: 4000 + k } }, null, 2)}\n`);
    const file = path.join(workDir, `${name}.bundle.json`);
    await cp.writeBundle(file, { profiles: [name] });
    bundles.push(file);
  }
  await cp.close();

  const run1 = async (dir, args) => {
    await rm(rssFile, { force: true }); // a figure is always this process's
    return cli(['--dir', dir, '--schema-dir', schemaDir, ...args], { env, rssFile, cwd: workDir });
  };
  const argsOf = (cmd) => (cmd === 'export' ? ['export', path.join(workDir, 'export.bundle.json')] : [cmd]);
  let emptyCount = 0;
  let bundleAt = 0;
  const candidates = [
    // What every row pays whatever the directory: node's start, loading the CLI and the library,
    // compiling the schema, reading the default config, exiting.
    { key: 'start', label: 'validate over no profiles (a fresh CLI process, reference)', kind: 'reference', measure: () => run1(dirs.none, ['validate']) },
    ...COMMANDS.flatMap((cmd) => [
      { key: `${cmd}-small`, label: `${cmd} over ${count(small)} profiles`, kind: 'baseline', measure: () => run1(dirs.small, argsOf(cmd)) },
      {
        key: `${cmd}-large`,
        label: `${cmd} over ${count(large)} profiles`,
        kind: 'ours',
        against: `${cmd}-small`,
        net: true,
        target: { metric: 'ratio', max: 12, text: `≤ 12× ${count(small)}` },
        measure: () => run1(dirs.large, argsOf(cmd)),
      },
    ]),
    {
      key: 'import-empty',
      label: 'import one profile into an empty directory',
      kind: 'baseline',
      measure: () => run1(path.join(workDir, `empty-${++emptyCount}`), ['import', bundles[bundleAt], '--on-conflict', 'skip', '--yes']),
    },
    {
      key: 'import-large',
      label: `import one profile next to ${count(large)} profiles`,
      kind: 'ours',
      against: 'import-empty',
      target: { metric: 'ratio', max: 2, text: '≤ 2× empty directory' },
      measure: () => run1(dirs.large, ['import', bundles[bundleAt++], '--on-conflict', 'skip', '--yes']),
    },
  ];
  const index = new Map(candidates.map((c, i) => [c.key, i]));
  const samples = candidates.map(() => []);
  const rss = candidates.map(() => []);
  // Warm-up: the file cache holds node, dist and the generated files for every candidate.
  if (!quick) {
    await run1(dirs.small, ['validate']);
    await run1(dirs.large, ['validate']);
  }
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < candidates.length; k++) {
      const i = (k + r) % candidates.length;
      const got = await candidates[i].measure();
      samples[i].push(got.ms);
      rss[i].push(got.rssMb);
    }
    progress(`scale round ${r + 1}/${rounds}: ${candidates.map((c, i) => `${c.key} ${samples[i].at(-1).toFixed(0)}`).join(', ')} ms`);
  }
  // Nothing outside workDir is written; the large trees are removed here so the harness's own
  // cleanup stays short (and the smoke test's work directory ends empty).
  await Promise.all(Object.values(dirs).map((d) => rm(d, { recursive: true, force: true })));

  const rows = candidates.map((c, i) => {
    const row = { kind: c.kind, label: c.label, median_ms: round(median(samples[i])), peak_rss_mb: round(Math.max(...rss[i]), 1) };
    if (c.kind === 'baseline') row.ratio = 1;
    if (c.against) {
      const base = samples[index.get(c.against)];
      row.ratio = round(median(samples[i].map((ms, r) => ms / base[r])), 2);
      row.target = c.target;
    }
    if (c.net) {
      const base = samples[index.get(c.against)];
      const start = samples[index.get('start')];
      // Net of the fixed cost, where the smaller case's own work stands clear of the noise.
      const smallWork = median(base.map((ms, r) => ms - start[r]));
      const net = median(samples[i].map((ms, r) => (ms - start[r]) / (base[r] - start[r])));
      row.note =
        smallWork >= NET_MIN_MS
          ? `net of a fresh process's fixed cost (the no-profiles row): ${net.toFixed(2)}×`
          : `the smaller case's own work (${smallWork.toFixed(0)} ms beyond the no-profiles row) is too small to net out`;
    }
    return row;
  });
  rows.push({
    kind: 'reference',
    label: `writing ${count(large)} profile files directly (setup, not a candidate)`,
    median_ms: round(genLarge),
    note: `${count(small)} in ${genSmall.toFixed(0)} ms`,
  });
  return {
    name: 'scale',
    description,
    rows,
    notes: [
      `the CLI in a fresh process per measurement (node dist/cli.js --dir D --schema-dir S <cmd>), ${rounds} round(s), candidates interleaved in a rotating order; ratios are medians of per-round ratios to the row named in the target; MB is the largest max RSS of the process over the rounds.`,
      'every row includes the fixed cost of a fresh CLI process (the no-profiles row: the same default config and schema, no profiles), so a ratio of totals is below the ratio of the work that grows with the directory; the notes give the ratio net of it where the smaller case does enough work to tell.',
      `profiles in extends chains of ${CHAIN} (each extends the previous one, every ${CHAIN}th starts a chain), validated in their resolved form against a schema with a 2 KB default config; the ${count(large)}-profile directory gets the imported profiles (${imports}) as the rounds go.`,
    ],
  };
}
