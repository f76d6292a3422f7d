/**
 * The CLI's --etcd / --prefix global options against a real etcd member: commands read and write the
 * store on etcd (nothing in the working directory), two prefixes are two stores, and an unreachable
 * cluster or a --prefix without --etcd are clear errors.
 */
import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { cli, json } from './helpers/cli.js';
import { startEtcd } from './helpers/etcd.js';
import { tempDir } from './helpers/tmp.js';

describe('config-persistence --etcd', () => {
  it('set, get, history and status run on the etcd store; prefixes keep stores apart; the directory stays empty', async () => {
    const { endpoints } = await startEtcd(1);
    const cwd = await tempDir('cp-etcd-cli-');
    const on = (prefix: string): string[] => ['--etcd', endpoints.join(','), '--prefix', prefix];
    expect((await cli(cwd, [...on('a/'), 'set', 'server.port', '8080'])).code).toBe(0);
    expect((await cli(cwd, [...on('a/'), 'set', 'server.port', '8081'])).code).toBe(0);
    const got = await cli(cwd, [...on('a/'), 'get', 'server.port']);
    expect(got.stdout.trim()).toBe('8081');
    const history = json<{ versions: Array<{ version: number }> }>(await cli(cwd, [...on('a/'), '--json', 'history', 'current.json']));
    expect(history.versions.map((v) => v.version)).toEqual([2, 1]);
    const status = await cli(cwd, [...on('a/'), 'status']);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain('etcd:a/');
    expect(status.stdout).toMatch(/revision applied +\d+/);
    const revision = json<{ appliedRevision?: string }>(await cli(cwd, [...on('a/'), '--json', 'status'])).appliedRevision;
    expect(BigInt(revision ?? '0')).toBeGreaterThan(0n);
    const other = await cli(cwd, [...on('b/'), 'get', 'server.port']);
    expect(other.code).not.toBe(0);
    expect(await readdir(cwd)).toEqual([]);
  }, 60_000);

  it('an unreachable cluster is E_IO naming the endpoint; --prefix without --etcd is a usage error', async () => {
    const cwd = await tempDir('cp-etcd-cli-');
    const down = await cli(cwd, ['--etcd', 'http://127.0.0.1:1', 'get', 'server.port'], { timeoutMs: 30_000 });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^E_IO: .*http:\/\/127\.0\.0\.1:1/m);
    expect(down.stderr).toContain('hint: check the --etcd endpoints');
    expect(down.stderr).not.toContain('disk space');
    const usage = await cli(cwd, ['--prefix', 'x/', 'status']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--prefix applies to an etcd store only');
  }, 60_000);
});
