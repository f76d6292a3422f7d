/**
 * `explain()` through lists merged with `x-merge`: an element of an `append` list names the one
 * layer (file and line) it came from, an element of a `{ by }` list every layer that holds the
 * element with that key, and a nested `append` inside a keyed element follows both.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';
import { Configuration } from '../src/index.js';
import { tempDir } from './helpers/tmp.js';

const schema = {
  type: 'object',
  properties: {
    plugins: { type: 'array', items: { type: 'string' }, 'x-merge': 'append' },
    routes: {
      type: 'array',
      'x-merge': { by: 'id' },
      items: { type: 'object', properties: { hosts: { type: 'array', 'x-merge': 'append' } } },
    },
  },
};

it('names the layer of each element of an append list and of a by-key list', async () => {
  const dir = await tempDir('cp-merge-explain-');
  await mkdir(path.join(dir, 'profiles'), { recursive: true });
  await writeFile(path.join(dir, 'default.yaml'), 'plugins:\n  - core\n  - auth\nroutes:\n  - id: home\n    path: /\n    hosts: [a]\n  - id: docs\n    path: /docs\n');
  await writeFile(path.join(dir, 'profiles', 'dev.yaml'), 'plugins:\n  - debug\nroutes:\n  - id: home\n    path: /dev\n    hosts: [b, c]\n');
  const config = await Configuration.open({ baseDir: dir, schema, profile: 'dev', validatorCache: false });
  try {
    expect(config.get('plugins')).toEqual(['core', 'auth', 'debug']);
    const debug = config.explain('plugins.2');
    expect(debug).toMatchObject({ found: true, value: 'debug', source: { layer: 'profile', profile: 'dev', value: 'debug', line: 2 } });
    expect(debug.layers).toHaveLength(1);
    expect(config.explain('plugins.1')).toMatchObject({ value: 'auth', source: { layer: 'default', value: 'auth', line: 3 } });
    // The home route is merged from both layers: its path decided by dev, both layers listed.
    const home = config.explain('routes.0.path');
    expect(home).toMatchObject({ value: '/dev', source: { layer: 'profile', value: '/dev', line: 5 } });
    expect(home.layers.map((l) => [l.layer, l.value])).toEqual([['profile', '/dev'], ['default', '/']]);
    expect(config.explain('routes.1.path')).toMatchObject({ value: '/docs', source: { layer: 'default', line: 9 } });
    // hosts append inside the keyed element: a from default, b and c from dev.
    expect(config.get('routes.0.hosts')).toEqual(['a', 'b', 'c']);
    expect(config.explain('routes.0.hosts.0').source).toMatchObject({ layer: 'default', value: 'a' });
    expect(config.explain('routes.0.hosts.2').source).toMatchObject({ layer: 'profile', value: 'c' });
  } finally {
    await config.close();
  }
});
