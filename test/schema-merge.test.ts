/**
 * Per-field merge strategies (`x-merge`): the keyword is known to ajv (a typo is a schema error),
 * and mergeWithSchema follows replace / merge / append / by-key across three layers.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { ConfigPersistence, Configuration } from '../src/index.js';
import { mergeWithSchema, strategyOf } from '../src/schema/merge.js';
import { tempDir } from './helpers/tmp.js';

const schema = {
  type: 'object',
  properties: {
    tags: { type: 'array', 'x-merge': 'append' },
    hosts: { type: 'array' },
    servers: { type: 'array', 'x-merge': { by: 'id' }, items: { type: 'object', properties: { ports: { type: 'array', 'x-merge': 'append' } } } },
    limits: { type: 'object', 'x-merge': 'replace' },
    api: { type: 'object', properties: { retry: { type: 'object' } } },
  },
};

describe('x-merge', () => {
  it('merges three layers by the declared strategies, defaults where none is declared', () => {
    const base = { tags: ['a'], hosts: ['h1'], servers: [{ id: 's1', port: 1, ports: [1] }], limits: { cpu: 1, mem: 2 }, api: { retry: { n: 1, wait: 5 } } };
    const mid = { tags: ['b'], hosts: ['h2'], servers: [{ id: 's2', port: 2 }, { id: 's1', port: 10, ports: [2] }], limits: { cpu: 4 } };
    const top = { tags: ['c'], servers: [{ id: 's1', name: 'one' }], api: { retry: { n: 3 } } };
    expect(mergeWithSchema(schema, base, mid, top)).toEqual({
      tags: ['a', 'b', 'c'],
      hosts: ['h2'],
      servers: [
        { id: 's1', port: 10, ports: [1, 2], name: 'one' },
        { id: 's2', port: 2 },
      ],
      limits: { cpu: 4 },
      api: { retry: { n: 3, wait: 5 } },
    });
    expect(base.tags).toEqual(['a']);
  });

  it('without a schema it is the plain rule: objects merge, lists are replaced', () => {
    expect(mergeWithSchema(undefined, { a: [1], o: { x: 1 } }, { a: [2], o: { y: 2 } })).toEqual({ a: [2], o: { x: 1, y: 2 } });
  });

  it('reads only valid declarations', () => {
    expect(strategyOf({ 'x-merge': 'append' })).toBe('append');
    expect(strategyOf({ 'x-merge': { by: 'id' } })).toEqual({ by: 'id' });
    expect(strategyOf({ 'x-merge': 'apend' })).toBeUndefined();
  });

  it('a typo in x-merge makes the schema invalid (E_PARSE); a valid one is accepted', async () => {
    const dir = await tempDir();
    const bad = new ConfigPersistence({ baseDir: path.join(dir, 'bad'), schema: { type: 'object', properties: { t: { type: 'array', 'x-merge': 'apend' } } } });
    await expect(bad.saveConfig({ t: [] })).rejects.toMatchObject({ code: 'E_PARSE' });
    const bykey = new ConfigPersistence({ baseDir: path.join(dir, 'bad2'), schema: { type: 'object', properties: { t: { type: 'array', 'x-merge': { by: '' } } } } });
    await expect(bykey.saveConfig({ t: [] })).rejects.toMatchObject({ code: 'E_PARSE' });
    const good = new ConfigPersistence({ baseDir: path.join(dir, 'good'), schema });
    await good.saveConfig({ tags: ['x'] });
    expect(await good.loadConfig()).toEqual({ tags: ['x'] });
    await Promise.all([bad.close(), bykey.close(), good.close()]);
  });
});

describe('x-merge in every layering', () => {
  const layered = {
    'default.json': JSON.stringify({ tags: ['d'], hosts: ['h-default'], servers: [{ id: 'a', port: 1 }] }),
    'profiles/base.json': JSON.stringify({ tags: ['base'], servers: [{ id: 'b', port: 2 }] }),
    'profiles/staging.json': JSON.stringify({ $profile: { extends: 'base' }, tags: ['staging'], hosts: ['h-staging'], servers: [{ id: 'a', port: 10 }] }),
    'current.json': JSON.stringify({ tags: ['cur'], servers: [{ id: 'b', name: 'bee' }] }),
  };
  async function dirWith(files: Record<string, string>): Promise<string> {
    const dir = await tempDir();
    await mkdir(path.join(dir, 'profiles'), { recursive: true });
    for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
    return dir;
  }

  it("Configuration's layers and the profiles' extends chain follow the schema", async () => {
    const dir = await dirWith(layered);
    const config = await Configuration.open({ baseDir: dir, schema, env: {}, profile: 'staging' });
    expect(config.data).toEqual({
      tags: ['d', 'base', 'staging', 'cur'],
      hosts: ['h-staging'],
      servers: [
        { id: 'a', port: 10 },
        { id: 'b', port: 2, name: 'bee' },
      ],
    });
    await config.close();
    const cp = new ConfigPersistence({ baseDir: dir, schema });
    const profile = await cp.loadProfile('staging');
    expect(profile.data).toEqual({ tags: ['base', 'staging'], hosts: ['h-staging'], servers: [{ id: 'b', port: 2 }, { id: 'a', port: 10 }] });
    await cp.close();
  });
});
