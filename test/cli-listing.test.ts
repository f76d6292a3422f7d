/**
 * Output that has to stay readable as a directory grows: `--limit` for `backup list` and
 * `history`, the `status` layers line wrapped between words at the terminal's width, and
 * `validate`'s effective-configuration issues in file order, pointing at the offending value.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, json, workspace } from './helpers/cli.js';
import { DIST, runNode } from './helpers/tmp.js';

async function savedTimes(ws: string, n: number): Promise<void> {
  const run = await runNode(
    `const { ConfigPersistence } = await import(${JSON.stringify(DIST)});
     const store = new ConfigPersistence({ baseDir: 'config', maxBackups: 1000, durable: false });
     for (let i = 0; i < ${n}; i++) await store.saveConfig({ n: i }, 'current.json', { reason: 'step ' + i });
     await store.close();`,
    { cwd: ws },
  );
  expect(run.stderr).toBe('');
}

describe('CLI: long listings', () => {
  it('backup list and history show the newest 50 in a table, --limit N the newest N, --limit 0 all; --json lists all unless limited', async () => {
    const ws = await workspace({ schemas: false });
    await savedTimes(ws, 61);
    const table = await cli(ws, ['backup', 'list', 'current']);
    expect(table.stdout.trimEnd().split('\n')).toHaveLength(1 + 50 + 1);
    expect(table.stdout).toContain('… 10 older backups not shown (--limit 0 shows all)');
    expect((await cli(ws, ['backup', 'list', '--limit', '3'])).stdout.trimEnd().split('\n')).toHaveLength(1 + 3 + 1);
    expect((await cli(ws, ['backup', 'list', '--limit', '0'])).stdout.trimEnd().split('\n')).toHaveLength(1 + 60);
    expect(json<unknown[]>(await cli(ws, ['--json', 'backup', 'list']))).toHaveLength(60);
    expect(json<unknown[]>(await cli(ws, ['--json', 'backup', 'list', '-n', '2']))).toHaveLength(2);

    const history = json<{ total: number; versions: Array<{ version: number }> }>(await cli(ws, ['--json', 'history', 'current', '--limit', '5']));
    expect(history.total).toBe(61);
    expect(history.versions.map((v) => v.version)).toEqual([61, 60, 59, 58, 57]);
    const shown = await cli(ws, ['history', 'current', '-n', '2']);
    expect(shown.stdout).toMatch(/^VERSION.*\n\s+61 .*step 60\n\s+60 .*step 59\n… 59 older versions not shown/);
    const bad = await cli(ws, ['history', 'current', '--limit', 'lots']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^E_USAGE: --limit must be a whole number/);
  });

  it('status wraps the layers line between words at 120 columns (COLUMNS), never inside a name', async () => {
    const ws = await workspace({ schemas: false });
    const profiles = path.join(ws, 'config', 'profiles');
    await mkdir(profiles, { recursive: true });
    await writeFile(path.join(profiles, 'shared-settings-for-every-deployed-environment.yaml'), 'b: 1\n');
    await writeFile(path.join(profiles, 'production-eu-west-frankfurt.yaml'), '$profile:\n  extends: shared-settings-for-every-deployed-environment\na: 1\n');
    const run = await cli(ws, ['status', '--profile', 'production-eu-west-frankfurt'], { env: { COLUMNS: '120' } });
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    const start = lines.findIndex((l) => l.startsWith('layers'));
    const layerLines = [lines[start]!, lines[start + 1]!];
    for (const line of layerLines) expect(line.length).toBeLessThanOrEqual(120);
    expect(layerLines[1]).toMatch(/^ {16}← config\//);
    expect(layerLines.join(' ').replace(/\s+/g, ' ')).toContain(
      'config/default.yaml ← config/profiles/shared-settings-for-every-deployed-environment.yaml ← config/profiles/production-eu-west-frankfurt.yaml ← config/current.yaml',
    );
    // Piped without COLUMNS, a program gets it on one line.
    expect((await cli(ws, ['status', '--profile', 'production-eu-west-frankfurt'])).stdout).toMatch(/^layers .*← config\/current\.yaml/m);
  });
});

describe('CLI: validate', () => {
  it("lists the effective configuration's issues in file order, each at the offending value", async () => {
    const ws = await workspace();
    await writeFile(path.join(ws, 'config', 'current.yaml'), 'server:\n  port: 99999\n  host: 5\nlogging:\n  level: loud\n');
    const report = json<{ documents: Array<{ file: string; issues?: Array<{ path: string; line?: number; column?: number }> }> }>(await cli(ws, ['--json', 'validate']));
    const effective = report.documents.find((d) => d.file.startsWith('effective configuration'))!;
    const own = report.documents.find((d) => d.file === 'current.yaml')!;
    expect(effective.issues!.map((i) => [i.path, i.line, i.column])).toEqual([
      ['server.port', 2, 9],
      ['server.host', 3, 9],
      ['logging.level', 5, 10],
    ]);
    // The same positions as the file's own check.
    expect(effective.issues!.map((i) => [i.line, i.column])).toEqual(own.issues!.map((i) => [i.line, i.column]));
  });
});
