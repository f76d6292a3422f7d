/**
 * Runs one scenario in this (fresh) process and writes what it returns, plus the process's own
 * cost, to the result file the harness named. Usage: node bench/child.mjs <scenario> <result.json>
 * with BENCH_OPTS='{"quick":…,"rounds":…,"workDir":…}' in the environment.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { BENCH_DIR, now } from './lib.mjs';

const [scenario, resultFile] = process.argv.slice(2);
if (!scenario || !resultFile) {
  process.stderr.write('usage: node bench/child.mjs <scenario> <result.json>\n');
  process.exit(2);
}
const opts = JSON.parse(process.env.BENCH_OPTS ?? '{}');
const started = now();
const mod = await import(pathToFileURL(path.join(BENCH_DIR, `${scenario}.mjs`)).href);
if (typeof mod.run !== 'function') throw new Error(`bench/${scenario}.mjs does not export run()`);
const result = await mod.run({ quick: Boolean(opts.quick), rounds: opts.rounds, workDir: opts.workDir });
if (!result || !Array.isArray(result.rows)) throw new Error(`bench/${scenario}.mjs returned no rows`);
await writeFile(
  resultFile,
  JSON.stringify({
    ...result,
    name: result.name ?? scenario,
    description: result.description ?? mod.description,
    elapsed_s: (now() - started) / 1000,
    child_peak_rss_mb: process.resourceUsage().maxRSS / 1024,
  }),
);
// Scenarios may leave watchers or timers behind; the result is written, so end here.
process.exit(0);
