/**
 * The benchmark harness: `node bench/run.mjs [--quick] [--only a,b] [--rounds N] [--strict]`.
 *
 * Each scenario runs in its own child process (a fresh heap, its own module cache, no JIT state
 * shared with the others), one after another so they do not compete for the disk. The harness
 * prints one table of medians, ratios and PASS/MISS against the targets, and writes
 * bench/results.json, bench/results.svg and bench/results.md (the table in Markdown) with the facts of the machine it ran on.
 * See bench/README.md for the scenario contract.
 */
import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BENCH_DIR, capture, DIST, fsTypeOf, ROOT, round, settleDisk } from './lib.mjs';
import { renderSvg } from './svg.mjs';

/** Scenarios in the order they run (and appear in the table and chart). */
const SCENARIOS = ['save', 'group', 'burst', 'backups', 'load', 'startup', 'watch', 'eventloop', 'restart', 'scale', 'etcd', 'admin', 'schema'];

/** Rounds of a full run, where a scenario needs more than {@link DEFAULT_ROUNDS}. */
const SCENARIO_ROUNDS = {
  // A round is ~1 s of saves whose mean swings with the disk's slow fsyncs (per-round ratios of one
  // 25-round run: 0.97-1.54x); the median of 5 such rounds moved 1.27-1.41x between runs, of 15 it
  // is stable to a few hundredths.
  save: 15,
  // Fresh processes, 4 per candidate per round: wall times on this shared machine swing by 10%
  // (two 5-round runs of one build: 1.02x and 0.93x of node-config).
  startup: 10,
  // Fresh CLI processes over 1,000 and 10,000 profiles, eleven candidates a round: one full 3-round
  // run took 92 s on a loaded 2-core machine (10,000-profile commands 1.5-8 s each).
  scale: 3,
};
const DEFAULT_ROUNDS = 5;

function usage(message) {
  if (message) process.stderr.write(`${message}\n`);
  process.stderr.write(
    'usage: node bench/run.mjs [--quick] [--only name[,name...]] [--rounds N] [--work-dir DIR] [--out DIR] [--strict]\n' +
      `scenarios: ${SCENARIOS.join(', ')}\n`,
  );
  process.exit(2);
}

function parseArgs(argv) {
  const args = { quick: false, only: undefined, rounds: undefined, workDir: undefined, out: BENCH_DIR, strict: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') args.quick = true;
    else if (a === '--strict') args.strict = true;
    else if (a === '--only') args.only = value().split(',').filter(Boolean);
    else if (a === '--rounds') args.rounds = Number(value());
    else if (a === '--work-dir') args.workDir = path.resolve(value());
    else if (a === '--out') args.out = path.resolve(value());
    else if (a === '--help' || a === '-h') usage();
    else usage(`unknown argument ${a}`);
  }
  if (args.rounds !== undefined && !(Number.isInteger(args.rounds) && args.rounds > 0)) usage('--rounds must be a positive integer');
  for (const name of args.only ?? []) if (!SCENARIOS.includes(name)) usage(`unknown scenario ${name}`);
  return args;
}

/** Facts about the machine, so a figure is never read without its context. */
async function machineFacts(workRoot) {
  const cpus = os.cpus();
  const git = await capture('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).catch(() => undefined); // not a checkout
  return {
    date: new Date().toISOString(),
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    memory_gb: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    work_dir: workRoot,
    file_system: await fsTypeOf(workRoot),
    load_average_at_start: os.loadavg().map((l) => round(l, 2)),
    commit: git?.code === 0 ? git.stdout.trim() : undefined,
  };
}

/** The rounds a scenario runs: `--rounds` when given, else 1 in quick mode, else its own default. */
function roundsOf(name, opts) {
  return opts.rounds ?? (opts.quick ? 1 : (SCENARIO_ROUNDS[name] ?? DEFAULT_ROUNDS));
}

/** Runs one scenario in a child process; resolves with its result or an error record. */
async function runScenario(name, opts) {
  const workDir = await fs.mkdtemp(path.join(opts.workRoot, `cp-bench-${name}-`));
  const resultFile = path.join(opts.workRoot, `cp-bench-${name}-${process.pid}.json`);
  const timeoutMs = opts.quick ? 120_000 : 900_000;
  try {
    const exit = await new Promise((resolve) => {
      const child = spawn(process.execPath, ['--expose-gc', path.join(BENCH_DIR, 'child.mjs'), name, resultFile], {
        cwd: workDir,
        stdio: ['ignore', 'inherit', 'inherit'],
        env: { ...process.env, BENCH_OPTS: JSON.stringify({ quick: opts.quick, rounds: roundsOf(name, opts), workDir }) },
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal });
      });
    });
    if (exit.code !== 0) return { name, rounds: roundsOf(name, opts), error: `child exited ${exit.code ?? exit.signal}${exit.signal === 'SIGKILL' ? ` (timeout ${timeoutMs / 1000} s?)` : ''}`, rows: [] };
    return { rounds: roundsOf(name, opts), ...JSON.parse(await fs.readFile(resultFile, 'utf8')) };
  } finally {
    // The work directory stays until the whole run is over: on ext4 without a journal (this kind of
    // machine) every file created scans past the inodes freed in the last 60-300 s, so removing
    // one scenario's 10,000 files would slow the next scenario's saves.
    opts.leftovers.push(workDir);
    await fs.rm(resultFile, { force: true });
    settleDisk(); // none pays the previous scenario's writeback (unsynced peers)
  }
}


/** Normalises a row's target and decides PASS/MISS. */
function judge(row) {
  if (row.target === undefined || row.target === null) return row;
  const target = typeof row.target === 'number' ? { metric: 'ratio', max: row.target } : { metric: 'ratio', ...row.target };
  target.text ??= target.metric === 'ratio' ? `≤ ${target.max}×` : `${target.metric} ≤ ${target.max}`;
  const value = row[target.metric];
  const status = typeof value === 'number' && Number.isFinite(value) ? (value <= target.max ? 'PASS' : 'MISS') : 'N/A';
  return { ...row, target, status };
}

function fmtMs(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '';
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

/** The time figure of a row as one string. */
export function timeText(row) {
  const parts = [];
  if (row.median_ms !== undefined) parts.push(fmtMs(row.median_ms));
  if (row.p50_ms !== undefined) parts.push(`p50 ${fmtMs(row.p50_ms)}`);
  if (row.p95_ms !== undefined) parts.push(`p95 ${fmtMs(row.p95_ms)}`);
  if (row.max_ms !== undefined) parts.push(`max ${fmtMs(row.max_ms)}`);
  if (row.peak_rss_mb !== undefined) parts.push(`${row.peak_rss_mb.toFixed(0)} MB`);
  return parts.join(', ');
}

function printTable(results) {
  const lines = [];
  const header = ['scenario', 'candidate', 'time', 'ratio', 'target', 'result'];
  const body = [];
  for (const r of results) {
    if (r.error) body.push([r.name, `ERROR: ${r.error}`, '', '', '', '']);
    for (const row of r.rows) {
      body.push([
        r.name,
        row.label,
        timeText(row),
        typeof row.ratio === 'number' ? `${row.ratio.toFixed(2)}×` : '',
        row.target?.text ?? '',
        row.status ?? '',
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const fmt = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  lines.push(fmt(header), widths.map((w) => '-'.repeat(w)).join('  '));
  let last;
  for (const b of body) {
    lines.push(fmt([b[0] === last ? '' : b[0], ...b.slice(1)]));
    last = b[0];
  }
  const notes = results.flatMap((r) => [
    ...(r.rows.filter((row) => row.note).map((row) => `${r.name} / ${row.label}: ${row.note}`)),
    ...(r.notes ?? []).map((n) => `${r.name}: ${n}`),
  ]);
  if (notes.length) lines.push('', 'Notes:', ...notes.map((n) => `  - ${n}`));
  return lines.join('\n');
}

/** The rounds of a run in words (results.json keeps the numbers): `5` when every scenario ran 5, else `5 (save 15)`. */
function roundsText(results) {
  const counts = results.map((r) => r.rounds).filter((n) => typeof n === 'number');
  const common = counts.sort((a, b) => counts.filter((n) => n === b).length - counts.filter((n) => n === a).length)[0];
  const others = results.filter((r) => typeof r.rounds === 'number' && r.rounds !== common).map((r) => `${r.name} ${r.rounds}`);
  return `${common ?? '?'}${others.length ? ` (${others.join(', ')})` : ''}`;
}

/** The results as a Markdown table (copied into docs/benchmarks.md). */
function markdownTable(output) {
  const m = output.machine;
  const esc = (t) => String(t).replace(/\|/g, '\\|');
  const lines = [
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memory_gb} GB, Node ${m.node}, ${m.platform}; file system ${m.file_system}; ` +
      `load average ${m.load_average_at_start.join(' ')} at start; ${m.date.slice(0, 16).replace('T', ' ')} UTC; medians of ${output.rounds} round(s)` +
      `${output.quick ? ' (quick mode: not meaningful)' : ''}.`,
    '',
    '| scenario | candidate | time | ratio | target | result |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of output.scenarios) {
    if (r.error) lines.push(`| ${r.name} | ${esc(r.error)} | | | | |`);
    for (const row of r.rows) {
      lines.push(
        `| ${r.name} | ${esc(row.label)} | ${timeText(row)} | ${typeof row.ratio === 'number' ? `${row.ratio.toFixed(2)}×` : ''} | ${esc(row.target?.text ?? '')} | ${row.status ? `**${row.status}**` : ''} |`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Runs the scenarios in turn, each in its own process, into `results`. */
async function runAll(names, opts, results) {
  for (const name of names) {
    if (!existsSync(path.join(BENCH_DIR, `${name}.mjs`))) {
      results.push({ name, error: `bench/${name}.mjs does not exist yet`, rows: [], missing: true });
      continue;
    }
    process.stderr.write(`▶ ${name}\n`);
    const result = await runScenario(name, opts);
    result.rows = (result.rows ?? []).map(judge);
    results.push(result);
    process.stderr.write(`  ${result.error ? `✗ ${result.error}` : `done in ${result.elapsed_s?.toFixed(1)} s`}\n`);
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!existsSync(DIST)) {
    process.stderr.write('dist/ is missing: run `npm run build` first (npm run bench does).\n');
    process.exit(2);
  }
  const workRoot = await fs.realpath(args.workDir ?? os.tmpdir());
  const names = args.only ?? SCENARIOS;
  const machine = await machineFacts(workRoot);
  process.stderr.write(
    `config-persistence bench${args.quick ? ' (quick: numbers are not meaningful)' : ''}: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.file_system}, load ${machine.load_average_at_start.join(' ')}\n`,
  );
  const results = [];
  const leftovers = [];
  settleDisk(); // the build and whatever ran before
  try {
    await runAll(names, { quick: args.quick, rounds: args.rounds, workRoot, leftovers }, results);
  } finally {
    for (const dir of leftovers) await fs.rm(dir, { recursive: true, force: true });
  }
  const output = {
    quick: args.quick,
    rounds: roundsText(results),
    rounds_by_scenario: Object.fromEntries(results.map((r) => [r.name, r.rounds])),
    machine: { ...machine, load_average_at_end: os.loadavg().map((l) => round(l, 2)) },
    scenarios: results,
    summary: {
      pass: results.flatMap((r) => r.rows).filter((row) => row.status === 'PASS').length,
      miss: results.flatMap((r) => r.rows).filter((row) => row.status === 'MISS').length,
      errors: results.filter((r) => r.error && !r.missing).map((r) => r.name),
      missing: results.filter((r) => r.missing).map((r) => r.name),
    },
  };
  await fs.mkdir(args.out, { recursive: true });
  await fs.writeFile(path.join(args.out, 'results.json'), `${JSON.stringify(output, null, 2)}\n`);
  await fs.writeFile(path.join(args.out, 'results.svg'), renderSvg(output));
  await fs.writeFile(path.join(args.out, 'results.md'), markdownTable(output));
  process.stdout.write(`\n${printTable(results)}\n\n`);
  process.stdout.write(
    `${output.summary.pass} PASS, ${output.summary.miss} MISS` +
      `${output.summary.errors.length ? `, errors in: ${output.summary.errors.join(', ')}` : ''}` +
      `${output.summary.missing.length ? `, not written yet: ${output.summary.missing.join(', ')}` : ''}` +
      ` — wrote ${path.relative(process.cwd(), path.join(args.out, 'results.json'))}, results.svg and results.md\n`,
  );
  if (output.summary.errors.length || (args.strict && output.summary.miss)) process.exitCode = 1;
}

await main();
