/**
 * Documents stay exactly as written (issue #20). For each case: the file's bytes before and after an
 * unrelated edit — identical outside the edited node — through the library (`saveConfig`,
 * `Configuration.set` + `save`) and through the built CLI's `set`; the values loaded; the error codes.
 * The same properties over generated documents: test/fidelity-properties.test.ts.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { Configuration, ConfigPersistence, ConfigPersistenceError } from '../src/index.js';
import { CodecRegistry } from '../src/codecs/index.js';
import { cli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const registry = new CodecRegistry();

async function dirWith(files: Record<string, string>): Promise<string> {
  const dir = await tempDir('cp-fidelity-');
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), text);
  }
  return dir;
}

function caught(fn: () => unknown): ConfigPersistenceError | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigPersistenceError) return err;
    throw err;
  }
  return undefined;
}

async function rejected(promise: Promise<unknown>): Promise<ConfigPersistenceError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ConfigPersistenceError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

/**
 * A document and the text expected after setting `edit.path` to `edit.value`: the original with
 * only the edited node's text changed.
 */
interface Case {
  name: string;
  file: 'current.yaml' | 'current.json';
  before: string;
  edit: { path: string; value: unknown; cli: string };
  after: string;
  loaded?: Record<string, unknown>;
}

const CASES: Case[] = [
  {
    name: 'a JSON integer beyond 2^53, 1e400, -0 and an inline list',
    file: 'current.json',
    before: '{\n  "id": 9007199254740993,\n  "huge": 1e400,\n  "zero": -0,\n  "list": [1, 2],\n  "port": 1\n}\n',
    edit: { path: 'port', value: 2, cli: '2' },
    after: '{\n  "id": 9007199254740993,\n  "huge": 1e400,\n  "zero": -0,\n  "list": [1, 2],\n  "port": 2\n}\n',
  },
  {
    name: 'a JSON file with tabs and a compact object',
    file: 'current.json',
    before: '{\n\t"a": {"x": 1, "y": [true, null]},\n\t"port": 1\n}',
    edit: { path: 'port', value: 3, cli: '3' },
    after: '{\n\t"a": {"x": 1, "y": [true, null]},\n\t"port": 3\n}',
  },
  {
    name: 'YAML numbers as spelled, flow lists and aligned comments',
    file: 'current.yaml',
    before: 'id: 9007199254740993   # too big for a double\nhuge: 1e400\nlist: [1, 2]           # inline\nhost: "0.0.0.0"        # bind all\nport: 1                # edited\n',
    edit: { path: 'port', value: 2, cli: '2' },
    after: 'id: 9007199254740993   # too big for a double\nhuge: 1e400\nlist: [1, 2]           # inline\nhost: "0.0.0.0"        # bind all\nport: 2                # edited\n',
    loaded: { id: 9007199254740992, huge: Infinity, list: [1, 2], host: '0.0.0.0', port: 1 },
  },
  {
    name: 'a YAML alias stays an alias',
    file: 'current.yaml',
    before: 'base: &b\n  retries: 3\nuse: *b\nport: 1\n',
    edit: { path: 'port', value: 2, cli: '2' },
    after: 'base: &b\n  retries: 3\nuse: *b\nport: 2\n',
    loaded: { base: { retries: 3 }, use: { retries: 3 }, port: 1 },
  },
  {
    name: 'YAML merge keys merge, and stay merge keys',
    file: 'current.yaml',
    before: 'defaults: &defaults\n  timeout: 5\n  retries: 3\nservice:\n  <<: *defaults\n  retries: 9\n',
    edit: { path: 'service.name', value: 'api', cli: 'api' },
    after: 'defaults: &defaults\n  timeout: 5\n  retries: 3\nservice:\n  <<: *defaults\n  retries: 9\n  name: api\n',
    loaded: { defaults: { timeout: 5, retries: 3 }, service: { timeout: 5, retries: 9 } },
  },
  {
    name: 'CRLF line ends, quoting styles and a block scalar',
    file: 'current.yaml',
    before: "a: 'single'\r\nb: \"double\"\r\ntext: |\r\n  line one\r\n  line two\r\nport: 1\r\n",
    edit: { path: 'port', value: 2, cli: '2' },
    after: "a: 'single'\r\nb: \"double\"\r\ntext: |\r\n  line one\r\n  line two\r\nport: 2\r\n",
  },
];

describe('an unrelated edit changes only the edited node', () => {
  for (const c of CASES) {
    it(`${c.name}: saveConfig`, async () => {
      const dir = await dirWith({ [c.file]: c.before });
      const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
      const data = (await store.loadConfig(c.file)) as Record<string, unknown>;
      if (c.loaded) expect(data).toEqual(c.loaded);
      const parts = c.edit.path.split('.');
      let node = data;
      for (const p of parts.slice(0, -1)) node = node[p] as Record<string, unknown>;
      node[parts[parts.length - 1]!] = c.edit.value;
      await store.saveConfig(data, c.file);
      expect(await readFile(path.join(dir, c.file), 'utf8')).toBe(c.after);
      await store.close();
    });

    it(`${c.name}: Configuration.set + save`, async () => {
      const dir = await dirWith({ [c.file]: c.before });
      const config = await Configuration.open({ baseDir: dir, schemaDir: dir, env: {} });
      config.set(c.edit.path, c.edit.value);
      await config.save();
      expect(await readFile(path.join(dir, c.file), 'utf8')).toBe(c.after);
      await config.close();
    });

    it(`${c.name}: CLI set`, async () => {
      const ws = await dirWith({ [`config/${c.file}`]: c.before });
      const run = await cli(ws, ['--dir', 'config', 'set', c.edit.path, c.edit.cli]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(await readFile(path.join(ws, 'config', c.file), 'utf8')).toBe(c.after);
    });
  }

  it('a later edit of an anchor still carries over to its aliases', async () => {
    const dir = await dirWith({ 'current.yaml': 'base: &b\n  retries: 3\nuse: *b\nport: 1\n' });
    const config = await Configuration.open({ baseDir: dir, schemaDir: dir, env: {} });
    config.set('port', 2);
    await config.save();
    await config.close();
    const text = await readFile(path.join(dir, 'current.yaml'), 'utf8');
    await writeFile(path.join(dir, 'current.yaml'), text.replace('retries: 3', 'retries: 4'));
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    expect(await store.loadConfig('current.yaml')).toEqual({ base: { retries: 4 }, use: { retries: 4 }, port: 2 });
    await store.close();
  });

  it('removing the first key keeps a header comment that has no blank line after it', async () => {
    const dir = await dirWith({ 'current.yaml': '# Shop settings — edit with care\nfirst: 1\nsecond: 2   # kept\n' });
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    await store.saveConfig({ second: 2 }, 'current.yaml');
    expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toBe('# Shop settings — edit with care\nsecond: 2   # kept\n');
    await store.close();
  });

  it('editing a value only an alias shares expands that one use, and the anchor stays', async () => {
    const dir = await dirWith({ 'current.yaml': 'base: &b\n  retries: 3\nuse: *b\n' });
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    await store.saveConfig({ base: { retries: 3 }, use: { retries: 5 } }, 'current.yaml');
    const text = await readFile(path.join(dir, 'current.yaml'), 'utf8');
    expect(text.startsWith('base: &b\n  retries: 3\n')).toBe(true);
    expect(await store.loadConfig('current.yaml')).toEqual({ base: { retries: 3 }, use: { retries: 5 } });
    await store.close();
  });

  it('removing a key a merge provides writes the map out without the merge, never losing data', async () => {
    const dir = await dirWith({ 'current.yaml': 'd: &d\n  x: 1\n  y: 2\ne:\n  <<: *d\n  y: 3\n' });
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    await store.saveConfig({ d: { x: 1, y: 2 }, e: { y: 3 } }, 'current.yaml');
    expect(await store.loadConfig('current.yaml')).toEqual({ d: { x: 1, y: 2 }, e: { y: 3 } });
    expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toMatch(/^d: &d\n  x: 1\n  y: 2\n/);
    await store.close();
  });
});

describe('documents read as they say', () => {
  it('merge keys: a single map, a list of maps (earlier wins), own keys override', () => {
    const text = 'a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n  z: 3\n';
    expect(registry.parse('f.yaml', text)).toEqual({ a: { x: 1, y: 1 }, b: { y: 2, z: 2 }, c: { x: 1, y: 1, z: 3 } });
    expect(caught(() => registry.parse('f.yaml', 'a: 1\nb:\n  <<: *a\n'))?.code).toBe('E_PARSE');
  });

  it('merge keys read exactly as yaml with merge: true reads them', () => {
    const texts = [
      'base: &b {a: 1, b: {c: 2}}\nx:\n  <<: *b\n  a: 9\n',
      'p: &p {a: 1}\nq: &q {a: 2, z: 3}\nr:\n  <<: [*p, *q]\n',
      'r:\n  <<: {inline: true}\n  own: 1\n',
      'a: &a {k: 1}\nlist:\n  - <<: *a\n    m: 2\n  - <<: *a\n',
    ];
    for (const text of texts) expect(registry.parse('f.yaml', text), text).toEqual(YAML.parse(text, { merge: true }));
  });

  it('a quoted "<<" is a plain key, and a saved "<<" key is quoted', async () => {
    expect(registry.parse('f.yaml', '"<<": 1\n')).toEqual({ '<<': 1 });
    const dir = await dirWith({ 'current.yaml': 'a: 1\n' });
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    await store.saveConfig({ a: 1, '<<': { x: 1 } }, 'current.yaml');
    expect(await store.loadConfig('current.yaml')).toEqual({ a: 1, '<<': { x: 1 } });
    await store.close();
  });

  it('explicit core tags mean what they say', () => {
    expect(registry.parse('f.yaml', 'a: !!float 3\nb: !!int "42"\nc: !!float .inf\nd: !!bool "true"\ne: !!str 5\n')).toEqual({ a: 3, b: 42, c: Infinity, d: true, e: '5' });
    const err = caught(() => registry.parse('f.yaml', 'a: 1\nb: !!int abc\n'));
    expect(err?.code).toBe('E_PARSE');
    expect(err).toMatchObject({ line: 2 });
  });

  it('keys that become the same object key are a parse error at the second', () => {
    for (const [text, line] of [['1: a\n"1": b\n', 2], ['null: a\n"": b\n', 2], ['x: 0\n~: a\n\'\': b\n', 3], ['true: 1\n"true": 2\n', 2]] as const) {
      const err = caught(() => registry.parse('f.yaml', text));
      expect(err?.code, text).toBe('E_PARSE');
      expect(err, text).toMatchObject({ line, column: 1 });
    }
  });

  it('JSON duplicate keys are E_PARSE with the position of the second, as in YAML', () => {
    const json = caught(() => registry.parse('f.json', '{\n  "port": 1,\n  "db": {"a": 1},\n  "port": 2\n}\n'));
    expect(json).toMatchObject({ code: 'E_PARSE', line: 4, column: 3 });
    expect(json?.message).toMatch(/duplicate key "port"/);
    const nested = caught(() => registry.parse('f.json', '{"u": "http://x:1", "a": {"k": 1, "k": 2}}'));
    expect(nested).toMatchObject({ code: 'E_PARSE', line: 1, column: 35 });
    const yaml = caught(() => registry.parse('f.yaml', 'port: 1\ndb: {}\nport: 2\n'));
    expect(yaml).toMatchObject({ code: 'E_PARSE', line: 3, column: 1 });
    // Colons inside strings and escaped colons are not keys.
    expect(registry.parse('f.json', '{"url": "a:b:c", "k:": "\\u003a", "n": [{"x": 1}, {"x": 2}]}')).toEqual({ url: 'a:b:c', 'k:': ':', n: [{ x: 1 }, { x: 2 }] });
  });

  it('text YAML 1.2 forbids is E_PARSE with a line and column', () => {
    const invalid = ['a: [1, 2]# c\n', 'a: "x"# c\n', 'a:\n  b: [1,\n  2]\n', 'a: |\n    \n  x\n', 'a: [\n\t1]\n', 'a: |\n\tx\n', '%YAML 1.2\n%YAML 1.2\n---\na: 1\n'];
    for (const text of invalid) {
      const err = caught(() => registry.parse('f.yaml', text));
      expect(err?.code, JSON.stringify(text)).toBe('E_PARSE');
      expect(err, JSON.stringify(text)).toMatchObject({ line: expect.any(Number), column: expect.any(Number) });
    }
  });
});

describe('aliases are judged by what they expand to', () => {
  const scalarRefs = (n: number) => `v: &v value\nrefs:\n${Array.from({ length: n }, () => '  - *v\n').join('')}`;

  it('100 and 10,000 references to one scalar load', () => {
    expect((registry.parse('f.yaml', scalarRefs(100)) as { refs: unknown[] }).refs).toHaveLength(100);
    expect((registry.parse('f.yaml', scalarRefs(10_000)) as { refs: unknown[] }).refs).toHaveLength(10_000);
  });

  it('a billion laughs is refused with E_TOO_LARGE in milliseconds, however few its aliases', () => {
    let bomb = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i <= 9; i++) bomb += `a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(', ')}]\n`;
    const started = performance.now();
    expect(caught(() => registry.parse('bomb.yaml', bomb))?.code).toBe('E_TOO_LARGE');
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('10,000 aliases that each expand a large anchor are refused fast', () => {
    const big = `big: &big [${Array.from({ length: 100 }, (_, i) => i).join(', ')}]\nrefs:\n${Array.from({ length: 10_000 }, () => '  - *big\n').join('')}`;
    const started = performance.now();
    expect(caught(() => registry.parse('bomb.yaml', big))?.code).toBe('E_TOO_LARGE');
    const ms = performance.now() - started;
    console.log(`10,000 aliases of a 100-item anchor refused in ${ms.toFixed(1)} ms`);
    expect(ms).toBeLessThan(1000);
  });
});

describe('environment values arrive as given', () => {
  const schema = {
    type: 'object',
    properties: {
      db: { type: 'object', properties: { password: { type: 'string' }, port: { type: 'integer' }, name: { type: 'string' } } },
      server: { type: 'object', properties: { port: { type: 'integer', minimum: 1, maximum: 65535 } } },
    },
  };

  it('no YAML reading: comments, anchors, block indicators and .inf stay text', async () => {
    const dir = await dirWith({ 'default.yaml': 'db:\n  port: 5432\n' });
    const env = { SHOP__DB__PASSWORD: 'p@ss #1', SHOP__DB__A: 'a # b', SHOP__DB__B: '.inf', SHOP__DB__C: '|', SHOP__DB__D: '&a x', SHOP__DB__PORT: '6543' };
    const config = await Configuration.open({ baseDir: dir, schemaDir: dir, envPrefix: 'SHOP', env });
    expect(config.get('db')).toEqual({ password: 'p@ss #1', a: 'a # b', b: '.inf', c: '|', d: '&a x', port: 6543 });
    await config.close();
  });

  it('a field the schema declares a string is always the exact string', async () => {
    const dir = await dirWith({ 'default.yaml': 'db:\n  port: 5432\n' });
    const config = await Configuration.open({ baseDir: dir, schema, envPrefix: 'SHOP', env: { SHOP__DB__NAME: '8080', SHOP__DB__PASSWORD: 'true', SHOP__DB__PORT: '6543' } });
    expect(config.get('db')).toEqual({ port: 6543, name: '8080', password: 'true' });
    await config.close();
  });

  it('save() never persists a value only an environment variable makes valid', async () => {
    const before = 'server:\n  port: 8080   # the public port\n';
    const dir = await dirWith({ 'current.yaml': before });
    const config = await Configuration.open({ baseDir: dir, schema, envPrefix: 'SHOP', env: { SHOP__SERVER__PORT: '8443' } });
    config.set('server.port', 70000); // hidden behind the environment: the effective config stays valid
    expect(config.get('server.port')).toBe(8443);
    const err = await rejected(config.save());
    expect(err.code).toBe('E_VALIDATION');
    expect((err as ConfigPersistenceError & { file: string }).file).toBe(path.join(dir, 'current.yaml'));
    expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toBe(before);
    await config.close();
    // A valid value saves as usual.
    const again = await Configuration.open({ baseDir: dir, schema, envPrefix: 'SHOP', env: { SHOP__SERVER__PORT: '8443' } });
    again.set('server.port', 9000);
    await again.save();
    expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toBe('server:\n  port: 9000   # the public port\n');
    await again.close();
  });
});

describe('list indices in dot paths', () => {
  it('Configuration.set refuses non-canonical and out-of-range indices at once, and appends at the length', async () => {
    const dir = await dirWith({ 'current.yaml': 'list: [1, 2]\n' });
    const config = await Configuration.open({ baseDir: dir, schemaDir: dir, env: {} });
    for (const p of ['list.-1', 'list.1e3', 'list.01', 'list.4294967295', 'list.99999999', 'list.3', 'list.length']) {
      expect(caught(() => config.set(p, 7))?.code, p).toBe('E_INVALID_NAME');
    }
    config.set('list.2', 3);
    config.set('list.0', 0);
    await config.save();
    expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toBe('list: [0, 2, 3]\n');
    expect(config.get('list.length')).toBeUndefined();
    await config.close();
  });

  it('CLI set: bad indices fail at once with E_INVALID_NAME and write nothing', async () => {
    const before = 'list:\n  - 1\n  - 2\n';
    const ws = await dirWith({ 'config/current.yaml': before });
    for (const p of ['list.99999999', 'list.-1', 'list.1e3', 'list.4294967295']) {
      const started = performance.now();
      const run = await cli(ws, ['--dir', 'config', 'set', p, '7']);
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(run.code, p).toBe(1);
      expect(run.stderr).toMatch(/E_INVALID_NAME/);
      expect(await readFile(path.join(ws, 'config', 'current.yaml'), 'utf8')).toBe(before);
    }
    const run = await cli(ws, ['--dir', 'config', 'set', 'list.2', '3']);
    expect(run.code).toBe(0);
    expect(await readFile(path.join(ws, 'config', 'current.yaml'), 'utf8')).toBe('list:\n  - 1\n  - 2\n  - 3\n');
  });
});

describe('comments survive', () => {
  it('a file of comments only keeps them when a document is first saved into it', async () => {
    const dir = await dirWith({ 'current.yaml': '# Written by ops: keep the port below 10000\n# (see the runbook)\n' });
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    await store.saveConfig({ port: 8080 }, 'current.yaml');
    expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toBe('# Written by ops: keep the port below 10000\n# (see the runbook)\nport: 8080\n');
    await store.close();
  });

  it('removing a key keeps the comment lines above and below it', async () => {
    const before = 'a: 1\n# about b\nb: 2   # inline\n# about c\nc: 3\n';
    const dir = await dirWith({ 'current.yaml': before });
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    await store.saveConfig({ a: 1, c: 3 }, 'current.yaml');
    expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toBe('a: 1\n# about b\n# about c\nc: 3\n');
    await store.close();
  });
});
