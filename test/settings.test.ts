/**
 * The directory settings file through the library (src/core/settings.ts): every process reads
 * `<baseDir>/config-persistence.json`; options given in code override it for that process only,
 * and say so; a bad file is a coded error naming it.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigPersistence, Configuration } from '../src/index.js';
import { tempDir } from './helpers/tmp.js';

async function dirWith(settings: unknown): Promise<string> {
  const dir = await tempDir('cp-settings-');
  await mkdir(path.join(dir, 'config'), { recursive: true });
  await writeFile(path.join(dir, 'config', 'config-persistence.json'), typeof settings === 'string' ? settings : JSON.stringify(settings));
  return path.join(dir, 'config');
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('directory settings', () => {
  it('retention and compression come from the file when code gives none', async () => {
    const baseDir = await dirWith({ maxBackups: 3, compressBackups: true, schemaDir: 'no-schemas' });
    const store = new ConfigPersistence({ baseDir, durable: false });
    for (let i = 0; i < 6; i++) await store.saveConfig({ n: i }, 'current.json');
    const backups = await store.listBackups('current.json');
    await store.close();
    expect(backups).toHaveLength(3);
    expect(backups.every((b) => b.compressed)).toBe(true);
    expect((await readdir(path.join(baseDir, 'backups'))).filter((f) => f.startsWith('current.') && f.endsWith('.gz'))).toHaveLength(3);
  });

  it('an option in code wins for that process only, with a CP_SETTINGS_OVERRIDE warning naming the file', async () => {
    const baseDir = await dirWith({ maxBackups: 3, schemaDir: 'no-schemas' });
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const store = new ConfigPersistence({ baseDir, durable: false, maxBackups: 5 });
    for (let i = 0; i < 8; i++) await store.saveConfig({ n: i }, 'current.json');
    expect(await store.listBackups('current.json')).toHaveLength(5);
    await store.close();
    expect(warn).toHaveBeenCalledTimes(1);
    const [message, options] = warn.mock.calls[0]! as [string, { code: string }];
    expect(options.code).toBe('CP_SETTINGS_OVERRIDE');
    expect(message).toContain('config-persistence.json');
    expect(message).toContain('maxBackups: 5 in code, 3 in the file');
    // Agreeing with the file is no override.
    warn.mockClear();
    await new ConfigPersistence({ baseDir, maxBackups: 3 }).close();
    expect(warn).not.toHaveBeenCalled();
  });

  it('envPrefix and schemaDir (relative to the directory) reach Configuration.open and openSync', async () => {
    const baseDir = await dirWith({ envPrefix: 'SHOP', schemaDir: '../rules' });
    await mkdir(path.join(baseDir, '..', 'rules'));
    await writeFile(path.join(baseDir, '..', 'rules', 'config.schema.json'), JSON.stringify({ type: 'object', properties: { port: { type: 'integer', default: 80 } } }));
    await writeFile(path.join(baseDir, 'default.yaml'), 'name: shop\n');
    const env = { SHOP__PORT: '9000' };
    const config = await Configuration.open<{ port: number; name: string }>({ baseDir, env });
    expect(config.get('port')).toBe(9000);
    await config.close();
    const sync = Configuration.openSync<{ port: number }>({ baseDir, env: {} });
    expect(sync.get('port')).toBe(80); // the schema in ../rules applied its default
    await sync.close();
    await writeFile(path.join(baseDir, 'default.yaml'), 'port: nope\n');
    await expect(Configuration.open({ baseDir, env: {} })).rejects.toMatchObject({ code: 'E_VALIDATION' });
  });

  it('refuses a file that is not JSON (E_PARSE with the position), unknown keys and wrong types (E_VALIDATION)', async () => {
    const broken = await dirWith('{ "maxBackups": 3,, }');
    expect(() => new ConfigPersistence({ baseDir: broken })).toThrow(/config-persistence\.json:1:\d+ cannot be parsed/);
    expect(codeOf(() => new ConfigPersistence({ baseDir: broken }))).toBe('E_PARSE');
    const wrong = await dirWith({ maxBackups: -1, compressBackups: 'yes', defaultFormat: 'toml', maxBakups: 2, $comment: 'fine' });
    let issues: Array<{ path: string }> = [];
    try {
      new ConfigPersistence({ baseDir: wrong });
    } catch (err) {
      expect((err as { code: string }).code).toBe('E_VALIDATION');
      expect((err as Error).message).toMatch(/config-persistence\.json does not match the directory settings format \(4 issues\)/);
      issues = (err as { issues: Array<{ path: string }> }).issues;
    }
    expect(issues.map((i) => i.path)).toEqual(['maxBackups', 'compressBackups', 'defaultFormat', 'maxBakups']);
    expect(codeOf(() => Configuration.openSync({ baseDir: wrong }))).toBe('E_VALIDATION');
    const list = await dirWith([1, 2]);
    expect(codeOf(() => new ConfigPersistence({ baseDir: list }))).toBe('E_VALIDATION');
  });

  it('is reserved: no API call reads or writes it as a configuration document', async () => {
    const baseDir = await dirWith({ maxBackups: 3 });
    const store = new ConfigPersistence({ baseDir });
    await expect(store.saveConfig({ maxBackups: 1 }, 'config-persistence.json')).rejects.toMatchObject({ code: 'E_INVALID_NAME' });
    expect((await store.verify()).ok).toBe(true);
    await store.close();
  });
});
