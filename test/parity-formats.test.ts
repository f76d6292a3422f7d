/**
 * Parity with node-config / c12 / conf (issue #25): TOML files, `.jsonc` files whose comments survive
 * set() + save(), and `projectName` choosing the per-user configuration directory (as env-paths does).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Configuration } from '../src/index.js';
import { tempDir } from './helpers/tmp.js';

async function dirWith(files: Record<string, string>): Promise<string> {
  const dir = await tempDir();
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

async function failure(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected a failure');
}

describe('TOML', () => {
  it('reads default.toml, saves current.toml in TOML, and explains the line', async () => {
    const dir = await dirWith({ 'default.toml': '# server settings\n[server]\nhost = "127.0.0.1"\nport = 8080\n\n[logging]\nlevel = "info"\n' });
    const config = await Configuration.open({ baseDir: dir, schemaDir: dir, env: {} });
    expect(config.data).toEqual({ server: { host: '127.0.0.1', port: 8080 }, logging: { level: 'info' } });
    expect(config.explain('server.port')).toMatchObject({ source: { line: 4, layer: 'default' } });
    config.set('server.port', 9090);
    await config.save();
    const saved = await readFile(path.join(dir, 'current.toml'), 'utf8');
    expect(saved).toContain('port = 9090');
    const again = await Configuration.open({ baseDir: dir, schemaDir: dir, env: {} });
    expect(again.get('server.port')).toBe(9090);
  });

  it('reads a TOML profile over a YAML default, and refuses to save a null (TOML has none)', async () => {
    const dir = await dirWith({ 'default.yaml': 'server:\n  port: 8080\n  host: a\n' });
    await mkdir(path.join(dir, 'profiles'));
    await writeFile(path.join(dir, 'profiles/edge.toml'), '[server]\nport = 443\nstarted = 2024-01-02T03:04:05Z\n');
    await writeFile(path.join(dir, 'current.toml'), 'note = "x"\n');
    const config = await Configuration.open({ baseDir: dir, schemaDir: dir, env: {}, profile: 'edge' });
    expect(config.get('server')).toEqual({ port: 443, host: 'a', started: '2024-01-02T03:04:05.000Z' });
    config.set('note', null);
    const err = await failure(config.save());
    expect(err.message).toContain('current.toml note is null, which TOML cannot hold');
    expect(err.code).toBe('E_VALIDATION');
    expect(await readFile(path.join(dir, 'current.toml'), 'utf8')).toBe('note = "x"\n');
  });

  it('refuses a syntax error with E_PARSE and the position', async () => {
    const dir = await dirWith({ 'default.toml': 'a = 1\nb = = 2\n' });
    const err = await failure(Configuration.open({ baseDir: dir, schemaDir: dir, env: {} }));
    expect(err.code).toBe('E_PARSE');
    expect(err.message).toContain('default.toml:2');
  });
});

describe('JSON with comments', () => {
  const TEXT = '{\n  // where the server listens\n  "server": {\n    "port": 8080, /* the public port */\n    "host": "0.0.0.0",\n  },\n}\n';

  it('keeps the comments a human wrote through set() + save()', async () => {
    const dir = await dirWith({ 'default.jsonc': '{ "server": { "port": 1, "host": "x" } }\n', 'current.jsonc': TEXT });
    const config = await Configuration.open({ baseDir: dir, schemaDir: dir, env: {} });
    expect(config.get('server.port')).toBe(8080);
    config.set('server.port', 9090);
    config.set('server.tls', true);
    await config.save();
    const saved = await readFile(path.join(dir, 'current.jsonc'), 'utf8');
    expect(saved).toContain('// where the server listens');
    expect(saved).toContain('/* the public port */');
    expect(saved).toContain('9090');
    const again = await Configuration.open({ baseDir: dir, schemaDir: dir, env: {} });
    expect(again.data).toEqual({ server: { port: 9090, host: '0.0.0.0', tls: true } });
  });
});

describe('projectName', () => {
  it('puts the files in the platform config directory of the project', async () => {
    const home = await tempDir();
    const saved = { XDG_CONFIG_HOME: process.env.XDG_CONFIG_HOME };
    process.env.XDG_CONFIG_HOME = path.join(home, 'xdg');
    try {
      const config = await Configuration.open({ projectName: 'parity-app', env: {} });
      config.set('theme', 'dark');
      await config.save();
      const expected = os.platform() === 'linux' ? path.join(home, 'xdg', 'parity-app') : undefined;
      if (expected) expect(JSON.parse(await readFile(path.join(expected, 'current.json'), 'utf8'))).toEqual({ theme: 'dark' });
    } finally {
      if (saved.XDG_CONFIG_HOME === undefined) delete process.env.XDG_CONFIG_HOME;
      else process.env.XDG_CONFIG_HOME = saved.XDG_CONFIG_HOME;
    }
  });

  it('refuses a name that is not a plain directory name', async () => {
    const err = await failure(Configuration.open({ projectName: '../evil', env: {} }));
    expect(err.code).toBe('E_INVALID_NAME');
  });
});
