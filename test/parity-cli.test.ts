/**
 * `config-persistence init` for a user arriving from another library (issue #25): the default file
 * in the format they use (TOML, JSONC as well as YAML/JSON), `.gitignore` entries for runtime state
 * and `local.*`, and a directory that works at once with the CLI and the library.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, json } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

describe('CLI: init --format', () => {
  it('writes default.toml, which the CLI then reads and layers under current', async () => {
    const ws = await tempDir('cp-parity-init-');
    const run = await cli(ws, ['--json', 'init', '--format', 'toml']);
    expect(run.code).toBe(0);
    const files = json<{ files: Array<{ file: string; action: string }> }>(run).files.map((f) => f.file);
    expect(files).toContain('config/default.toml');
    const ignore = (await readFile(path.join(ws, 'config', '.gitignore'), 'utf8')).split('\n');
    for (const entry of ['/current.*', '/backups/', '/history/', '/local.*']) expect(ignore).toContain(entry);
    await writeFile(path.join(ws, 'config', 'default.toml'), '[server]\nport = 8080\n');
    expect(json<{ value: unknown }>(await cli(ws, ['--json', 'get', 'server.port'])).value).toBe(8080);
  });

  it('writes a default.jsonc with a comment, and keeps an existing default of another format', async () => {
    const ws = await tempDir('cp-parity-init-');
    expect((await cli(ws, ['init', '--format', 'jsonc'])).code).toBe(0);
    const text = await readFile(path.join(ws, 'config', 'default.jsonc'), 'utf8');
    expect(text).toMatch(/^\/\/ Base settings/);
    const again = json<{ files: Array<{ file: string; action: string }> }>(await cli(ws, ['--json', 'init', '--format', 'yaml']));
    expect(again.files).toContainEqual({ file: 'config/default.jsonc', action: 'kept' });
    expect(again.files.map((f) => f.file)).not.toContain('config/default.yaml');
  });

  it('refuses an unknown format with a stable code and writes nothing', async () => {
    const ws = await tempDir('cp-parity-init-');
    const run = await cli(ws, ['--json', 'init', '--format', 'ini']);
    expect(run.code).not.toBe(0);
    expect(run.stderr + run.stdout).toContain('E_INVALID_NAME');
    await expect(readFile(path.join(ws, 'config', '.gitignore'), 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
