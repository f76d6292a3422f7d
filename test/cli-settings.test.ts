/**
 * The directory settings file `<baseDir>/config-persistence.json` as the CLI sees it, and `init`
 * that writes it: an application and an operator's CLI on one directory apply the same retention,
 * compression and schema.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, json } from './helpers/cli.js';
import { DIST, runNode, tempDir } from './helpers/tmp.js';

async function backupsOf(ws: string): Promise<string[]> {
  return (await readdir(path.join(ws, 'config', 'backups'))).filter((f) => f.startsWith('current.') && !f.endsWith('.json.idx'));
}

describe('CLI: the directory settings file', () => {
  it("set keeps an application's 50 compressed backups (it does not trim to 10 uncompressed)", async () => {
    const ws = await tempDir('cp-settings-');
    await mkdir(path.join(ws, 'config'), { recursive: true });
    await writeFile(path.join(ws, 'config', 'config-persistence.json'), JSON.stringify({ maxBackups: 50, compressBackups: true }));
    // The application: 21 saves under the file's settings (no options in code) = 20 backups.
    const app = await runNode(
      `const { ConfigPersistence } = await import(${JSON.stringify(DIST)});
       const store = new ConfigPersistence({ baseDir: 'config', durable: false });
       for (let i = 0; i < 21; i++) await store.saveConfig({ n: i }, 'current.json');
       await store.close();`,
      { cwd: ws },
    );
    expect(app.stderr).toBe('');
    const before = await cli(ws, ['--json', 'backup', 'list', 'current']);
    expect(json<unknown[]>(before)).toHaveLength(20);
    const set = await cli(ws, ['set', 'n', '100']);
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    const after = json<Array<{ compressed: boolean }>>(await cli(ws, ['--json', 'backup', 'list', 'current']));
    expect(after).toHaveLength(21);
    expect(after.every((b) => b.compressed)).toBe(true);
    expect((await backupsOf(ws)).every((f) => f.endsWith('.gz'))).toBe(true);
  });

  it('schemaDir in the file is relative to the directory, so the CLI finds the schema from any working directory', async () => {
    const ws = await tempDir('cp-settings-');
    await mkdir(path.join(ws, 'app', 'config'), { recursive: true });
    await mkdir(path.join(ws, 'app', 'rules'), { recursive: true });
    await writeFile(path.join(ws, 'app', 'config', 'config-persistence.json'), JSON.stringify({ schemaDir: '../rules' }));
    await writeFile(path.join(ws, 'app', 'rules', 'config.schema.json'), JSON.stringify({ type: 'object', properties: { port: { type: 'integer' } } }));
    const refused = await cli(ws, ['--dir', 'app/config', 'set', 'port', 'abc']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^E_VALIDATION: /);
    expect(refused.stderr).toContain('port');
    expect((await cli(path.join(ws, 'app'), ['--dir', 'config', 'set', 'port', '8080'])).code).toBe(0);
    const status = json<{ schema?: string }>(await cli(ws, ['--dir', 'app/config', '--json', 'validate']));
    expect(JSON.stringify(status)).toContain(path.join(ws, 'app', 'rules', 'config.schema.json'));
  });

  it('a broken settings file stops every command with a coded error naming it', async () => {
    const ws = await tempDir('cp-settings-');
    await mkdir(path.join(ws, 'config'), { recursive: true });
    const file = path.join(ws, 'config', 'config-persistence.json');
    await writeFile(file, '{ "maxBackups": 5, }');
    const parse = await cli(ws, ['status']);
    expect(parse.code).toBe(1);
    expect(parse.stderr).toMatch(/^E_PARSE: config\/config-persistence\.json:1:/);
    await writeFile(file, JSON.stringify({ maxBakups: 5, compressBackups: 'yes' }));
    const invalid = await cli(ws, ['set', 'a', '1']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/^E_VALIDATION: config\/config-persistence\.json does not match the directory settings format \(2 issues\)/);
    expect(invalid.stderr).toContain('maxBakups is not a setting');
    expect(invalid.stderr).toContain('compressBackups must be true or false');
    expect(invalid.stderr).not.toContain('nothing was written');
  });

  it('the settings file is no configuration document: status, validate and verify leave it out', async () => {
    const ws = await tempDir('cp-settings-');
    expect((await cli(ws, ['init'])).code).toBe(0);
    for (const args of [['--json', 'validate'], ['--json', 'verify'], ['--json', 'status']]) {
      const run = await cli(ws, args);
      expect(run.code, `${args.join(' ')}: ${run.stdout}${run.stderr}`).toBe(0);
      expect(run.stdout).not.toContain('config-persistence.json');
    }
  });
});

describe('CLI: init', () => {
  it('writes the settings with the defaults, default.yaml, a schema stub and .gitignore entries; a second run keeps everything', async () => {
    const ws = await tempDir('cp-init-');
    const first = await cli(ws, ['--json', 'init']);
    expect(first.code).toBe(0);
    const report = json<{ files: Array<{ file: string; action: string }> }>(first);
    expect(report.files.map((f) => [f.file, f.action])).toEqual([
      ['config/config-persistence.json', 'created'],
      ['config/default.yaml', 'created'],
      ['schemas/config.schema.json', 'created'],
      ['config/.gitignore', 'created'],
    ]);
    const settings = JSON.parse(await readFile(path.join(ws, 'config', 'config-persistence.json'), 'utf8')) as Record<string, unknown>;
    expect(settings).toMatchObject({ maxBackups: 10, compressBackups: false, backupOnWrite: true, maxFileBytes: 10 * 1024 * 1024, schemaDir: '../schemas' });
    const ignore = await readFile(path.join(ws, 'config', '.gitignore'), 'utf8');
    for (const entry of ['/current.*', '/backups/', '/history/']) expect(ignore.split('\n')).toContain(entry);
    // The new directory works at once: a set is validated against the stub and lands in current.
    expect((await cli(ws, ['set', 'server.port', '8080'])).code).toBe(0);
    expect(json<{ value: unknown }>(await cli(ws, ['--json', 'get', 'server.port'])).value).toBe(8080);

    await writeFile(path.join(ws, 'config', 'default.yaml'), 'mine: true\n');
    const second = json<{ files: Array<{ action: string }> }>(await cli(ws, ['--json', 'init']));
    expect(second.files.map((f) => f.action)).toEqual(['kept', 'kept', 'kept', 'kept']);
    expect(await readFile(path.join(ws, 'config', 'default.yaml'), 'utf8')).toBe('mine: true\n');
    expect(await readFile(path.join(ws, 'config', '.gitignore'), 'utf8')).toBe(ignore);
  });

  it('adds only the missing .gitignore entries to an existing file and never rewrites a settings file', async () => {
    const ws = await tempDir('cp-init-');
    await mkdir(path.join(ws, 'config'), { recursive: true });
    await writeFile(path.join(ws, 'config', '.gitignore'), 'node_modules\n/backups/');
    await writeFile(path.join(ws, 'config', 'config-persistence.json'), '{"maxBackups": 50}\n');
    const run = await cli(ws, ['init']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/updated\s+config\/\.gitignore/);
    expect(await readFile(path.join(ws, 'config', '.gitignore'), 'utf8')).toBe('node_modules\n/backups/\n/current.*\n/history/\n/quarantine/\n/.admin-token\n/local.*\n');
    expect(await readFile(path.join(ws, 'config', 'config-persistence.json'), 'utf8')).toBe('{"maxBackups": 50}\n');
  });
});
