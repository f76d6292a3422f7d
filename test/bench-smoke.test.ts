/**
 * Keeps the benchmark code from rotting: runs the harness in --quick mode (numbers are not
 * meaningful there; speed targets are judged by `npm run bench`, never by tests) and checks the
 * shape of what it writes. Uses the build in dist/ (`npm test` builds first).
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runProcess, tempDir } from './helpers/tmp.js';

const RUN = path.join(ROOT, 'bench', 'run.mjs');

interface Row {
  label: string;
  median_ms?: number;
  p50_ms?: number;
  p95_ms?: number;
  max_ms?: number;
  ratio?: number;
  peak_rss_mb?: number;
  note?: string;
  target?: { metric: string; max: number; text: string };
  status?: 'PASS' | 'MISS' | 'N/A';
}
interface Results {
  quick: boolean;
  rounds: number;
  machine: { cpu: string; cores: number; node: string; file_system: string; date: string };
  scenarios: Array<{ name: string; error?: string; rows: Row[] }>;
  summary: { pass: number; miss: number; errors: string[] };
}

async function runBench(args: string[], timeoutMs: number): Promise<{ results: Results; svg: string; md: string; stdout: string }> {
  const out = await tempDir('cp-bench-smoke-');
  const res = await runProcess(process.execPath, [RUN, '--quick', '--out', out, '--work-dir', out, ...args], { cwd: ROOT, timeoutMs });
  expect(res.stderr + res.stdout, 'bench exited non-zero').not.toMatch(/ERROR: /);
  expect(res.code).toBe(0);
  const results = JSON.parse(await readFile(path.join(out, 'results.json'), 'utf8')) as Results;
  const svg = await readFile(path.join(out, 'results.svg'), 'utf8');
  const md = await readFile(path.join(out, 'results.md'), 'utf8');
  // Nothing but the two outputs is left in the work directory: scenarios clean up after themselves.
  expect(readdirSync(out).sort()).toEqual(['results.json', 'results.md', 'results.svg']);
  return { results, svg, md, stdout: res.stdout };
}

function expectMeasured(row: Row): void {
  const figures = [row.median_ms, row.p50_ms, row.p95_ms, row.max_ms].filter((v) => v !== undefined);
  expect(figures.length, `${row.label} has no time`).toBeGreaterThan(0);
  for (const v of figures) expect(Number.isFinite(v) && (v as number) >= 0, `${row.label}: ${v}`).toBe(true);
}

describe('bench harness (--quick)', () => {
  it('runs the save and burst scenarios and writes results.json and the chart', async () => {
    const { results, svg, md, stdout } = await runBench(['--only', 'save,burst'], 60_000);
    expect(results.quick).toBe(true);
    expect(results.machine.cores).toBeGreaterThan(0);
    expect(results.machine.node).toBe(process.version);
    expect(results.machine.cpu).not.toBe('');
    expect(results.machine.file_system).not.toBe('unknown');
    expect(results.scenarios.map((s) => s.name)).toEqual(['save', 'burst']);
    for (const scenario of results.scenarios) {
      expect(scenario.error).toBeUndefined();
      for (const row of scenario.rows) expectMeasured(row);
    }
    const save = results.scenarios[0]!.rows;
    expect(save[0]!.label).toMatch(/^floor/);
    expect(save[0]!.ratio).toBe(1);
    expect(save[0]!.label).toMatch(/synchronous/);
    expect(save[1]!.label).toMatch(/fs\.promises/);
    // The bound of a save that keeps history, by hand, beside it: a reference row, not a target.
    expect(save[2]!.label).toMatch(/^the save protocol by hand/);
    expect(save[2]!.kind).toBe('reference');
    expect(save[2]!.ratio).toBeGreaterThan(0);
    const ours = save.filter((r) => r.label.startsWith('config-persistence saveConfig'));
    expect(ours.map((r) => r.target?.max)).toEqual([1.25, 1.5]);
    const stalls = save.filter((r) => r.label.includes('longest stall'));
    expect(stalls.length).toBe(3); // the idle loop and both config-persistence candidates
    expect(stalls.filter((r) => r.target).map((r) => r.target!.text)).toEqual(['≤ 3× idle', '≤ 3× idle']);
    for (const row of stalls.filter((r) => r.target)) expect(['PASS', 'MISS']).toContain(row.status);
    for (const row of ours) expect(['PASS', 'MISS']).toContain(row.status);
    for (const peer of ['write-file-atomic', 'atomically', 'steno', 'conf']) {
      expect(save.some((r) => r.label.startsWith(peer) && typeof r.ratio === 'number'), peer).toBe(true);
    }
    const burst = results.scenarios[1]!.rows;
    expect(burst.filter((r) => r.target).every((r) => r.target!.metric === 'ratio' && r.target!.max === 1)).toBe(true);
    expect(results.summary.pass + results.summary.miss).toBe(6);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('sequential durable save');
    expect(stdout).toMatch(/PASS|MISS/);
    expect(md).toMatch(/^\| save \| floor/m);
  }, 90_000);

  it('runs every other scenario that exists, so none of them rots', async () => {
    const others = ['backups', 'load', 'startup', 'watch', 'eventloop', 'etcd', 'admin', 'schema'].filter((n) => existsSync(path.join(ROOT, 'bench', `${n}.mjs`)));
    const { results } = await runBench(['--only', others.join(',')], 240_000);
    expect(results.summary.errors).toEqual([]);
    expect(results.scenarios.map((s) => s.name)).toEqual(others);
    for (const scenario of results.scenarios) {
      expect(scenario.rows.length, scenario.name).toBeGreaterThan(0);
      for (const row of scenario.rows) expectMeasured(row);
    }
  }, 300_000);

  it('runs the group, restart and scale scenarios with their targets', async () => {
    const { results } = await runBench(['--only', 'group,restart,scale'], 150_000);
    expect(results.summary.errors).toEqual([]);
    expect(results.scenarios.map((s) => s.name)).toEqual(['group', 'restart', 'scale']);
    for (const scenario of results.scenarios) {
      expect(scenario.error).toBeUndefined();
      for (const row of scenario.rows) expectMeasured(row);
    }
    const [group, restart, scale] = results.scenarios.map((s) => s.rows);
    // group: 16 sequential synchronous floor writes are the baseline; the bare group writer is a reference.
    expect(group![0]!.label).toMatch(/^floor × 16 .*synchronous/);
    expect(group![0]!.ratio).toBe(1);
    expect(group!.some((r) => r.label.startsWith('bare group writer') && !r.target && typeof r.ratio === 'number')).toBe(true);
    expect(group!.some((r) => r.label.startsWith('the save protocol by hand for 16 files') && !r.target && typeof r.ratio === 'number')).toBe(true);
    const together = group!.filter((r) => r.target);
    expect(together.map((r) => r.target!.max)).toEqual([0.6, 0.6]);
    for (const row of together) expect(['PASS', 'MISS']).toContain(row.status);
    // restart: a clean start is the baseline; the first save after a kill -9 of the holder is judged.
    expect(restart![0]!.label).toMatch(/^clean start/);
    expect(restart![0]!.ratio).toBe(1);
    const crashed = restart!.filter((r) => r.target);
    expect(crashed.map((r) => r.target!.max)).toEqual([1.5]);
    expect(crashed[0]!.label).toMatch(/kill -9/);
    expect(['PASS', 'MISS']).toContain(crashed[0]!.status);
    // scale: every command at ten times the profiles, and the import next to them, with peak memory.
    const judged = scale!.filter((r) => r.target);
    expect(judged.map((r) => r.label.split(' ')[0])).toEqual(['validate', 'verify', 'status', 'export', 'import']);
    expect(judged.map((r) => r.target!.max)).toEqual([12, 12, 12, 12, 2]);
    for (const row of judged) expect(['PASS', 'MISS']).toContain(row.status);
    for (const row of scale!.filter((r) => r.ratio !== undefined)) expect(row.peak_rss_mb, row.label).toBeGreaterThan(10);
  }, 180_000);

  it('refuses an unknown scenario with a usage error', async () => {
    const res = await runProcess(process.execPath, [RUN, '--quick', '--only', 'nope'], { cwd: ROOT });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/unknown scenario nope/);
  });
});
