/**
 * Secrets: redact() replaces every value the schema marks `x-secret` or `writeOnly` with "***"
 * (nested, in lists, under additionalProperties), never touches the input, and ajv refuses a
 * non-boolean `x-secret`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigPersistence, Configuration } from '../src/index.js';
import { declaresSecrets, redact, secretPaths } from '../src/schema/secrets.js';
import { tempDir } from './helpers/tmp.js';

const schema = {
  type: 'object',
  properties: {
    db: { type: 'object', properties: { host: { type: 'string' }, password: { type: 'string', 'x-secret': true } } },
    users: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, token: { type: 'string', writeOnly: true } } } },
    keys: { type: 'object', additionalProperties: { type: 'string', 'x-secret': true } },
    whole: { type: 'object', 'x-secret': true },
  },
};

describe('redact', () => {
  it('replaces every secret with *** and leaves the rest and the input alone', () => {
    const doc = { db: { host: 'h', password: 'hunter2' }, users: [{ name: 'a', token: 't1' }, { name: 'b' }], keys: { k1: 's1' }, whole: { x: 1 }, other: 'plain' };
    const before = JSON.stringify(doc);
    const shown = redact(doc, schema);
    expect(shown).toEqual({ db: { host: 'h', password: '***' }, users: [{ name: 'a', token: '***' }, { name: 'b' }], keys: { k1: '***' }, whole: '***', other: 'plain' });
    expect(JSON.stringify(doc)).toBe(before);
    expect(JSON.stringify(shown)).not.toMatch(/hunter2|t1"|s1/);
    expect(secretPaths(doc, schema)).toEqual(['db.password', 'users.0.token', 'keys.k1', 'whole']);
  });

  it('without a schema or secrets it is a plain copy', () => {
    expect(redact({ a: 1 }, undefined)).toEqual({ a: 1 });
    expect(declaresSecrets(schema)).toBe(true);
    expect(declaresSecrets({ type: 'object', properties: { a: { type: 'string' } } })).toBe(false);
  });

  it('a non-boolean x-secret makes the schema invalid (E_PARSE)', async () => {
    const dir = await tempDir();
    const cp = new ConfigPersistence({ baseDir: path.join(dir, 'c'), schema: { type: 'object', properties: { p: { type: 'string', 'x-secret': 'yes' } } } });
    await expect(cp.saveConfig({ p: 'x' })).rejects.toMatchObject({ code: 'E_PARSE' });
    await cp.close();
  });
});

describe('explain redacts', () => {
  it('shows secrets as *** in every layer unless includeSecrets is set', async () => {
    const dir = await tempDir();
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'default.json'), JSON.stringify({ db: { host: 'h', password: 'default-pw' } }));
    await writeFile(path.join(dir, 'current.json'), JSON.stringify({ db: { password: 'current-pw' } }));
    const config = await Configuration.open({ baseDir: dir, schema, env: {} });
    for (const at of ['db.password', 'db']) {
      const shown = JSON.stringify(config.explain(at));
      expect(shown).not.toMatch(/-pw/);
      expect(shown).toMatch(/\*\*\*/);
    }
    expect(config.explain('db.password').layers.map((l) => l.value)).toEqual(['***', '***']);
    expect(config.explain('db').value).toEqual({ host: 'h', password: '***' });
    expect(config.explain('db.password', { includeSecrets: true }).value).toBe('current-pw');
    expect(config.explain('db.host').value).toBe('h');
    await config.close();
  });
});

describe('CLI get redacts', () => {
  it('prints *** for a secret unless --show-secrets', async () => {
    const { spawnSync } = await import('node:child_process');
    const { CLI } = await import('./helpers/tmp.js');
    const dir = await tempDir();
    await mkdir(path.join(dir, 'schemas'), { recursive: true });
    await writeFile(path.join(dir, 'schemas', 'config.schema.json'), JSON.stringify(schema));
    await writeFile(path.join(dir, 'current.json'), JSON.stringify({ db: { host: 'h', password: 'hunter2' } }));
    const run = (...args: string[]) => spawnSync(process.execPath, [CLI, '--dir', dir, '--schema-dir', path.join(dir, 'schemas'), ...args], { encoding: 'utf8' });
    for (const args of [['get', 'db'], ['get', 'db.password', '--explain'], ['--json', 'get', 'db']]) {
      const out = run(...args);
      expect(out.status).toBe(0);
      expect(out.stdout + out.stderr).not.toMatch(/hunter2/);
      expect(out.stdout).toMatch(/\*\*\*/);
    }
    expect(run('get', 'db.password', '--show-secrets').stdout.trim()).toBe('hunter2');
  });
});
