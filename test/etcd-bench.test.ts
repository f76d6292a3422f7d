/**
 * `npm run bench` on a machine without etcd: the etcd scenario is skipped with a line saying what
 * is missing and how to get it, and the run still succeeds (a real child process of the harness).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers/tmp.js';

describe('bench etcd scenario without the etcd binary', () => {
  it('prints a clear skip line, records it as a note and exits 0', async () => {
    const out = await tempDir('cp-etcd-bench-');
    const env = { ...process.env, ETCD_BIN: path.join(out, 'no-etcd-here') };
    delete env.ETCD_ENDPOINTS;
    const run = spawnSync(process.execPath, ['bench/run.mjs', '--quick', '--only', 'etcd', '--out', out, '--work-dir', out], { encoding: 'utf8', env, timeout: 120_000 });
    expect(run.status).toBe(0);
    expect(run.stderr + run.stdout).toMatch(/etcd skipped: .*no-etcd-here not found .*apt-get install etcd-server etcd-client/);
    expect(readFileSync(path.join(out, 'results.json'), 'utf8')).toContain('or set ETCD_ENDPOINTS to a running cluster');
  }, 150_000);
});
