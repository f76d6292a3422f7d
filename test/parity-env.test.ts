/**
 * Parity with node-config, c12 and dotenv (issue #25): named variables mapped onto paths with
 * `x-env` in the schema or a `custom-environment-variables` file, and `dotenv: true` reading `.env`
 * and `.env.<profile>` below the real environment, with explain() naming the file and line.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Configuration } from '../src/index.js';
import { tempDir } from './helpers/tmp.js';

const SCHEMA = {
  type: 'object',
  properties: {
    database: { type: 'object', properties: { url: { type: 'string', 'x-env': 'DATABASE_URL' } } },
    server: { type: 'object', properties: { port: { type: 'integer', 'x-env': 'PORT' }, host: { type: 'string' } } },
  },
};

async function dirWith(files: Record<string, string>): Promise<string> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'profiles'), { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

const DEFAULT = 'database:\n  url: postgres://localhost/dev\nserver:\n  port: 8080\n  host: 127.0.0.1\n';

describe('x-env and the mapping file', () => {
  it('maps DATABASE_URL and PORT onto their paths without any prefix, typed by the schema', async () => {
    const dir = await dirWith({ 'default.yaml': DEFAULT });
    const config = await Configuration.open({ baseDir: dir, schema: SCHEMA, env: { DATABASE_URL: 'postgres://db/prod', PORT: '9000' } });
    expect(config.get('database.url')).toBe('postgres://db/prod');
    expect(config.get('server.port')).toBe(9000);
    expect(config.explain('server.port').source).toMatchObject({ layer: 'env', variable: 'PORT' });
  });

  it('refuses an x-env that is not a variable name as a schema error', async () => {
    const dir = await dirWith({ 'default.yaml': DEFAULT });
    const bad = { type: 'object', properties: { a: { type: 'string', 'x-env': 'not a name' } } };
    await expect(Configuration.open({ baseDir: dir, schema: bad, env: {} })).rejects.toThrow(/keyword "x-env" value is invalid/);
  });

  it('reads custom-environment-variables.yaml as node-config does', async () => {
    const dir = await dirWith({ 'default.yaml': DEFAULT, 'custom-environment-variables.yaml': 'server:\n  host: LISTEN_HOST\n' });
    const config = await Configuration.open({ baseDir: dir, schemaDir: dir, env: { LISTEN_HOST: '0.0.0.0' } });
    expect(config.get('server.host')).toBe('0.0.0.0');
  });

  it('refuses a mapping file leaf that is not a name, naming the file', async () => {
    const dir = await dirWith({ 'default.yaml': DEFAULT, 'custom-environment-variables.yaml': 'server:\n  host: 5\n' });
    const err = await Configuration.open({ baseDir: dir, schemaDir: dir, env: {} }).catch((e: { code: string; message: string }) => e);
    expect(err).toMatchObject({ code: 'E_INVALID_NAME' });
    expect((err as Error).message).toContain('custom-environment-variables.yaml');
  });
});

describe('dotenv', () => {
  it('loads .env and .env.<profile> below the real environment, and explain() names file:line', async () => {
    const dir = await dirWith({ 'default.yaml': DEFAULT, 'profiles/production.yaml': 'server:\n  host: 10.0.0.1\n' });
    const envDir = await tempDir();
    await writeFile(path.join(envDir, '.env'), '# local secrets\nDATABASE_URL=postgres://dotenv/db\nPORT=7000\nAPP__SERVER__HOST=from-dotenv\n');
    await writeFile(path.join(envDir, '.env.production'), 'PORT=7500\n');
    const config = await Configuration.open({ baseDir: dir, schema: SCHEMA, dotenv: envDir, envPrefix: 'APP', env: { DATABASE_URL: 'postgres://real/db', CONFIG_PROFILE: 'production' } });
    expect(config.get('database.url')).toBe('postgres://real/db'); // the real variable wins
    expect(config.get('server.port')).toBe(7500); // .env.production over .env
    expect(config.get('server.host')).toBe('from-dotenv');
    expect(config.explain('server.port').source).toMatchObject({ layer: 'env', variable: 'PORT', file: path.join(envDir, '.env.production'), line: 1 });
    expect(config.explain('server.host').source).toMatchObject({ variable: 'APP__SERVER__HOST', file: path.join(envDir, '.env'), line: 4 });
    expect(config.explain('database.url').source?.file).toBeUndefined();
  });

  it('lets .env choose the profile (NODE_ENV in .env), and is off unless asked', async () => {
    const dir = await dirWith({ 'default.yaml': DEFAULT, 'profiles/production.yaml': 'server:\n  host: 10.0.0.1\n' });
    const envDir = await tempDir();
    await writeFile(path.join(envDir, '.env'), 'NODE_ENV=production\nPORT=7000\n');
    const on = await Configuration.open({ baseDir: dir, schema: SCHEMA, dotenv: envDir, env: {} });
    expect(on.activeProfile).toBe('production');
    expect(on.get('server.port')).toBe(7000);
    const off = await Configuration.open({ baseDir: dir, schema: SCHEMA, env: {} });
    expect(off.get('server.port')).toBe(8080);
  });

  it('follows the profile: useProfile swaps .env.<profile> for the new one', async () => {
    const dir = await dirWith({ 'default.yaml': DEFAULT, 'profiles/production.yaml': '{}\n', 'profiles/staging.yaml': '{}\n' });
    const envDir = await tempDir();
    await writeFile(path.join(envDir, '.env'), 'PORT=7000\n');
    await writeFile(path.join(envDir, '.env.staging'), '\n\nPORT=7100\n');
    const config = await Configuration.open({ baseDir: dir, schema: SCHEMA, dotenv: envDir, profile: 'production', env: {} });
    expect(config.get('server.port')).toBe(7000);
    const ports: unknown[] = [];
    config.onDidChange('server.port', (now) => ports.push(now));
    await config.useProfile('staging');
    expect(config.get('server.port')).toBe(7100);
    expect(config.explain('server.port').source).toMatchObject({ file: path.join(envDir, '.env.staging'), line: 3 });
    expect(ports).toEqual([7100]);
  });
});
