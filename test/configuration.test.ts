/**
 * Configuration: the layer stack (default ← extends chain ← profile ← current ← env), active profile
 * precedence and persistence, env typing, get/set/delete/has, save() writing only the difference
 * while keeping a human's YAML and JSON layout, explain(), change events, reload, hostile keys,
 * and openSync in a fresh process against the built package.
 */
import { mkdir, readFile, writeFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Configuration, ConfigPersistence, setPath, type ConfigurationChangeEvent } from '../src/index.js';
import { DIST, runNode, tempDir } from './helpers/tmp.js';

type Failure = { code?: string; message: string; issues?: Array<{ path: string; message: string; line?: number }> };

async function failure(p: Promise<unknown> | (() => unknown)): Promise<Failure> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return err as Failure;
  }
  throw new Error('expected a failure');
}

async function dirWith(files: Record<string, string>): Promise<string> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'profiles'), { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

const LAYERED = {
  'default.yaml': 'app:\n  name: shop\n  env: default\nserver:\n  host: 127.0.0.1\n  port: 8080\n  shutdownGraceSeconds: 10\nlogging:\n  level: info\n',
  'profiles/base.yaml': '$profile:\n  description: shared\nlogging:\n  level: warn\n  format: json\n',
  'profiles/staging.yaml': '$profile:\n  extends: base\napp:\n  env: staging\nserver:\n  host: 0.0.0.0\n',
  'current.yaml': 'server:\n  port: 9000\n',
};

function open<T = Record<string, unknown>>(dir: string, opts: Parameters<typeof Configuration.open>[0] = {}): Promise<Configuration<T>> {
  return Configuration.open<T>({ baseDir: dir, schemaDir: dir, env: {}, ...opts });
}

describe('layers', () => {
  it('merges default ← extends chain ← profile ← current ← env, and explains each value', async () => {
    const dir = await dirWith(LAYERED);
    const config = await open(dir, { profile: 'staging', envPrefix: 'APP', env: { APP__LOGGING__LEVEL: 'debug' } });
    expect(config.data).toEqual({
      app: { name: 'shop', env: 'staging' },
      server: { host: '0.0.0.0', port: 9000, shutdownGraceSeconds: 10 },
      logging: { level: 'debug', format: 'json' },
    });
    expect(config.activeProfile).toBe('staging');
    expect(config.sources.map((s) => [s.layer, s.profile ?? null, path.basename(s.file)])).toEqual([
      ['default', null, 'default.yaml'],
      ['profile', 'base', 'base.yaml'],
      ['profile', 'staging', 'staging.yaml'],
      ['current', null, 'current.yaml'],
      ['env', null, 'environment'],
    ]);
    expect(config.explain('app.name').source).toMatchObject({ layer: 'default', line: 2, column: 3 });
    expect(config.explain('app.name').source?.file).toMatch(/default\.yaml$/);
    expect(config.explain('logging.format').source).toMatchObject({ layer: 'profile', profile: 'base', line: 5 });
    expect(config.explain('server.host').source).toMatchObject({ layer: 'profile', profile: 'staging', value: '0.0.0.0' });
    expect(config.explain('server.port').source).toMatchObject({ layer: 'current', value: 9000, line: 2 });
    const level = config.explain('logging.level');
    expect(level.source).toMatchObject({ layer: 'env', variable: 'APP__LOGGING__LEVEL', value: 'debug' });
    expect(level.layers.map((l) => [l.layer, l.profile ?? null, l.value])).toEqual([
      ['env', null, 'debug'],
      ['profile', 'base', 'warn'],
      ['default', null, 'info'],
    ]);
    expect(config.explain('nope.nothing')).toEqual({ path: 'nope.nothing', found: false, value: undefined, layers: [] });
    await config.close();
  });

  it('fills schema defaults last and says so in explain', async () => {
    const dir = await dirWith({ 'default.json': '{"server": {"port": 1}}' });
    const schema = { type: 'object', properties: { server: { type: 'object', properties: { port: { type: 'integer' }, grace: { type: 'number', default: 10 } } } } };
    const config = await open(dir, { schema });
    expect(config.get('server.grace')).toBe(10);
    expect(config.explain('server.grace').source).toMatchObject({ layer: 'schema', value: 10 });
    await config.set('server.port', 2);
    await config.save();
    // Schema defaults are never written into current.*.
    expect(JSON.parse(await readFile(path.join(dir, 'current.json'), 'utf8'))).toEqual({ server: { port: 2 } });
    await config.close();
  });

  it('works with no files at all (empty configuration) and with an empty current file', async () => {
    const empty = await tempDir();
    const config = await open(empty);
    expect(config.data).toEqual({});
    expect(config.activeProfile).toBeUndefined();
    await config.close();
    const dir = await dirWith({ 'default.yaml': 'a: 1\n', 'current.yaml': '' });
    const withEmpty = await open(dir);
    expect(withEmpty.data).toEqual({ a: 1 });
    await withEmpty.close();
  });

  it('refuses a layer that is not a mapping, naming the file', async () => {
    const dir = await dirWith({ 'current.yaml': '- a\n- b\n' });
    const err = await failure(open(dir));
    expect(err.code).toBe('E_VALIDATION');
    expect(err.message).toContain('current.yaml');
  });

  it('validates the effective configuration, pointing at the layer that holds the bad value', async () => {
    const dir = await dirWith({ 'default.yaml': 'server:\n  port: 8080\n', 'profiles/bad.yaml': '# bad\nserver:\n  port: 99999\n' });
    const schema = { type: 'object', properties: { server: { type: 'object', properties: { port: { type: 'integer', maximum: 65535 } } } } };
    const err = await failure(open(dir, { schema, profile: 'bad' }));
    expect(err.code).toBe('E_VALIDATION');
    expect(err.message).toContain('profiles/bad.yaml:3:9'); // at the offending value
    const envErr = await failure(open(dir, { schema, envPrefix: 'APP', env: { APP__SERVER__PORT: 'eighty' } }));
    expect(envErr.code).toBe('E_VALIDATION');
    expect(envErr.message).toContain('APP__SERVER__PORT');
  });
});

describe('active profile', () => {
  it('precedence: option, then CONFIG_PROFILE, then the persisted choice, else none; persisted across instances', async () => {
    const dir = await dirWith({
      'default.yaml': 'name: default\n',
      'profiles/a.yaml': 'name: a\n',
      'profiles/b.yaml': 'name: b\n',
      'profiles/c.yaml': 'name: c\n',
    });
    const none = await open(dir);
    expect([none.activeProfile, none.activeProfileSource, none.get('name')]).toEqual([undefined, 'none', 'default']);
    const changes: ConfigurationChangeEvent[] = [];
    none.on('change', (e) => changes.push(e));
    await none.useProfile('c');
    expect([none.activeProfile, none.activeProfileSource, none.get('name')]).toEqual(['c', 'useProfile', 'c']);
    expect(changes.map((e) => [e.source, e.changes])).toEqual([['profile', [{ path: 'name', type: 'changed', oldValue: 'default', newValue: 'c' }]]]);
    await none.close();
    expect(JSON.parse(await readFile(path.join(dir, '.active-profile'), 'utf8'))).toMatchObject({ profile: 'c' });

    const persisted = await open(dir);
    expect([persisted.activeProfile, persisted.activeProfileSource]).toEqual(['c', 'persisted']);
    await persisted.close();
    const fromEnv = await open(dir, { env: { CONFIG_PROFILE: 'b' } });
    expect([fromEnv.activeProfile, fromEnv.activeProfileSource, fromEnv.get('name')]).toEqual(['b', 'env', 'b']);
    await fromEnv.close();
    const fromOption = await open(dir, { profile: 'a', env: { CONFIG_PROFILE: 'b' } });
    expect([fromOption.activeProfile, fromOption.activeProfileSource, fromOption.get('name')]).toEqual(['a', 'option', 'a']);
    await fromOption.close();
    const forcedNone = await open(dir, { profile: null, env: { CONFIG_PROFILE: 'b' } });
    expect([forcedNone.activeProfile, forcedNone.get('name')]).toEqual([undefined, 'default']);
    await forcedNone.useProfile(null);
    await forcedNone.close();
    expect(await readdir(dir)).not.toContain('.active-profile');
    const cleared = await open(dir);
    expect(cleared.activeProfileSource).toBe('none');
    await cleared.close();
  });

  it('reads CONFIG_PROFILE from process.env by default', async () => {
    const dir = await dirWith({ 'profiles/p.yaml': 'x: 1\n' });
    const previous = process.env.CONFIG_PROFILE;
    process.env.CONFIG_PROFILE = 'p';
    try {
      const config = await Configuration.open({ baseDir: dir, schemaDir: dir });
      expect([config.activeProfile, config.get('x')]).toEqual(['p', 1]);
      await config.close();
    } finally {
      if (previous === undefined) delete process.env.CONFIG_PROFILE;
      else process.env.CONFIG_PROFILE = previous;
    }
  });

  it('a missing or invalid active profile is a coded error that says how it was chosen', async () => {
    const dir = await dirWith({ 'profiles/ok.yaml': 'x: 1\n' });
    const missing = await failure(open(dir, { env: { CONFIG_PROFILE: 'ghost' } }));
    expect(missing.code).toBe('E_NOT_FOUND');
    expect(missing.message).toContain('CONFIG_PROFILE');
    expect((await failure(open(dir, { env: { CONFIG_PROFILE: '../etc' } }))).code).toBe('E_INVALID_NAME');
    expect((await failure(open(dir, { profile: '__proto__' }))).code).toBe('E_INVALID_NAME');
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
    await store.setActiveProfile('ok');
    await writeFile(path.join(dir, 'profiles', 'ok.yaml'), '$profile:\n  extends: gone\n');
    const broken = await failure(open(dir));
    expect(broken.code).toBe('E_NOT_FOUND');
    expect(broken.message).toContain('"ok" → "gone"');
    await store.close();
  });

  it('useProfile refuses a profile that does not resolve or is invalid, and changes nothing', async () => {
    const dir = await dirWith({ 'profiles/ok.yaml': 'port: 1\n', 'profiles/bad.yaml': 'port: -1\n' });
    const schema = { type: 'object', properties: { port: { type: 'integer', minimum: 0 } } };
    const config = await open(dir, { schema, profile: 'ok' });
    expect((await failure(config.useProfile('missing'))).code).toBe('E_NOT_FOUND');
    expect((await failure(config.useProfile('bad'))).code).toBe('E_VALIDATION');
    expect([config.activeProfile, config.get('port')]).toEqual(['ok', 1]);
    expect(await readdir(dir)).not.toContain('.active-profile');
    await config.close();
  });
});

describe('environment variables', () => {
  it('arrive typed only where unambiguous (numbers, true/false, null, JSON lists and maps), else as the exact string', async () => {
    const dir = await dirWith({ 'default.yaml': 'api:\n  port: 80\n' });
    const config = await open(dir, {
      envPrefix: 'APP',
      env: {
        APP__API__PORT: '9000',
        APP__API__RATIO: '0.25',
        APP__API__HEX: '0x1F',
        APP__API__ENABLED: 'true',
        APP__API__OFF: 'false',
        APP__API__NOTHING: 'null',
        APP__API__TILDE: '~',
        APP__API__QUOTED: '"9000"',
        APP__API__SINGLE: "'true'",
        APP__API__YES: 'yes',
        APP__API__EMPTY: '',
        APP__API__URL: 'http://x:1/a?b=c',
        APP__API__LIST: '["a", 2, true]',
        APP__API__FLOW: '[a, 2, true]',
        APP__API__PASSWORD: 'p@ss #1',
        APP__API__TEXT: 'key: value',
        APP__API__BROKEN: '"unterminated',
        OTHER__API__PORT: '1',
        APP_API_PORT: '2',
      },
    });
    expect(config.get('api')).toEqual({
      port: 9000,
      ratio: 0.25,
      hex: '0x1F',
      enabled: true,
      off: false,
      nothing: null,
      tilde: '~',
      quoted: '"9000"',
      single: "'true'",
      yes: 'yes',
      empty: '',
      url: 'http://x:1/a?b=c',
      list: ['a', 2, true],
      flow: '[a, 2, true]',
      password: 'p@ss #1',
      text: 'key: value',
      broken: '"unterminated',
    });
    expect(config.has('api.nothing')).toBe(true);
    await config.close();
  });

  it('match existing keys case-insensitively, with or without underscores, and index lists', async () => {
    const dir = await dirWith({
      'default.yaml': 'server:\n  shutdownGraceSeconds: 10\n  maxBodySize: 1\nallowedOrigins:\n  - a\n  - b\nfeatureFlags:\n  newCheckout: false\n',
    });
    const config = await open(dir, {
      envPrefix: 'app__',
      env: {
        APP__SERVER__SHUTDOWN_GRACE_SECONDS: '30',
        APP__SERVER__MAXBODYSIZE: '2',
        APP__ALLOWEDORIGINS__1: 'c',
        APP__FEATURE_FLAGS__NEW_CHECKOUT: 'true',
        APP__BRAND_NEW: 'x',
      },
    });
    expect(config.data).toEqual({
      server: { shutdownGraceSeconds: 30, maxBodySize: 2 },
      allowedOrigins: ['a', 'c'],
      featureFlags: { newCheckout: true },
      brand_new: 'x',
    });
    expect(config.explain('server.shutdownGraceSeconds').source).toMatchObject({ layer: 'env', variable: 'APP__SERVER__SHUTDOWN_GRACE_SECONDS' });
    await config.close();
  });

  it('deeper variables win over shallower ones and object values merge', async () => {
    const dir = await dirWith({ 'default.yaml': 'db:\n  host: h\n  port: 1\n' });
    const config = await open(dir, { envPrefix: 'APP', env: { APP__DB__PORT: '3', APP__DB: '{"port": 2, "user": "u"}' } });
    expect(config.get('db')).toEqual({ host: 'h', port: 3, user: 'u' });
    await config.close();
  });

  it('are never saved, and set() under an env-controlled path keeps the env value effective', async () => {
    const dir = await dirWith({ 'default.yaml': 'api:\n  port: 80\n  host: a\n' });
    const config = await open(dir, { envPrefix: 'APP', env: { APP__API__PORT: '9000' } });
    const seen: unknown[] = [];
    config.on('change', (e) => seen.push(e.changes));
    config.set('api.port', 8000); // hidden behind the environment: no effective change
    config.set('api.host', 'b');
    expect(config.get('api.port')).toBe(9000);
    expect(seen).toEqual([[{ path: 'api.host', type: 'changed', oldValue: 'a', newValue: 'b' }]]);
    await config.save();
    expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toBe('api:\n  port: 8000\n  host: b\n');
    await config.close();
    const again = await open(dir);
    expect(again.get('api')).toEqual({ port: 8000, host: 'b' });
    await again.close();
  });

  it('refuse prototype keys and empty segments in variable names', async () => {
    const dir = await dirWith({});
    for (const name of ['APP__CONSTRUCTOR__PROTOTYPE__POLLUTED', 'APP____PROTO____POLLUTED', 'APP__A____B', 'APP__A__']) {
      const err = await failure(open(dir, { envPrefix: 'APP', env: { [name]: 'true' } }));
      expect(err.code).toBe('E_INVALID_NAME');
      expect(err.message).toContain(name);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('get / set / delete / has / data', () => {
  it('reads dot paths with fallbacks and hands out frozen snapshots', async () => {
    const dir = await dirWith({ 'default.yaml': 'a:\n  b: 1\n  n: null\nlist:\n  - x: 1\n' });
    const config = await open<{ a: { b: number; n: null; c?: string }; list: Array<{ x: number }> }>(dir);
    expect(config.get('a.b')).toBe(1);
    expect(config.get('list.0.x')).toBe(1);
    expect(config.get('a.c', 'fallback')).toBe('fallback');
    expect(config.get('a.n', 'fallback')).toBeNull();
    expect([config.has('a.n'), config.has('a.c'), config.has('list.0'), config.has('list.1')]).toEqual([true, false, true, false]);
    const snapshot = config.data;
    expect(Object.isFrozen(snapshot)).toBe(true);
    expect(Object.isFrozen(snapshot.a)).toBe(true);
    expect(() => {
      (snapshot.a as { b: number }).b = 2;
    }).toThrow(TypeError);
    config.set('a.b', 2);
    expect(snapshot.a.b).toBe(1); // the old snapshot does not move
    expect(config.data.a.b).toBe(2);
    await config.close();
  });

  it('set() validates first: an invalid value throws E_VALIDATION and changes nothing', async () => {
    const dir = await dirWith({ 'default.yaml': 'port: 1\n' });
    const schema = { type: 'object', properties: { port: { type: 'integer', maximum: 65535 } } };
    const config = await open(dir, { schema });
    expect((await failure(() => config.set('port', 70000))).code).toBe('E_VALIDATION');
    expect((await failure(() => config.set('port', Number.NaN))).code).toBe('E_VALIDATION');
    expect((await failure(() => config.set('when', new Date()))).code).toBe('E_VALIDATION');
    expect((await failure(() => config.set('port', undefined))).code).toBe('E_VALIDATION');
    expect((await failure(() => config.set('', 1))).code).toBe('E_INVALID_NAME');
    expect([config.get('port'), config.dirty]).toEqual([1, false]);
    expect(await config.save()).toBeUndefined();
    expect(await readdir(dir)).not.toContain('current.yaml');
    await config.close();
  });

  it('delete() reverts to the layer below; set(null) hides it; set() of the value below drops the override', async () => {
    const dir = await dirWith({ 'default.yaml': 'a: 1\nb: 2\nc: 3\n', 'current.yaml': 'a: 10\nb: 20\n' });
    const config = await open(dir);
    expect(config.delete('a')).toBe(true);
    expect(config.get('a')).toBe(1);
    expect(config.delete('c')).toBe(false); // current.* holds nothing at c
    config.set('c', null);
    expect([config.get('c'), config.has('c')]).toEqual([null, true]);
    config.set('b', 2); // same as default: no pin in current.*
    config.set('d', 4);
    await config.save();
    expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toBe('c: null\nd: 4\n');
    const reopened = await open(dir);
    expect(reopened.data).toEqual(config.data);
    await Promise.all([config.close(), reopened.close()]);
  });

  it('objects merge with the layers below and paths through a list override the whole list', async () => {
    const dir = await dirWith({ 'default.yaml': 'server:\n  host: h\n  port: 1\norigins:\n  - a\n  - b\n' });
    const config = await open(dir);
    config.set('server', { port: 2 });
    expect(config.get('server')).toEqual({ host: 'h', port: 2 });
    config.set('origins.1', 'B');
    expect(config.get('origins')).toEqual(['a', 'B']);
    expect(config.delete('origins.0')).toBe(true);
    expect(config.get('origins')).toEqual(['B']);
    await config.save();
    expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toBe('server:\n  port: 2\norigins:\n  - B\n');
    await config.close();
  });

  it('keeps prototypes clean: hostile dot paths are E_INVALID_NAME and hostile values stay data', async () => {
    const dir = await dirWith({ 'current.json': '{"__proto__": {"polluted": "file"}, "x": {"constructor": {"prototype": {"polluted": "file"}}}}' });
    const config = await open(dir);
    for (const p of ['__proto__.polluted', 'a.__proto__.polluted', 'constructor.prototype.polluted', 'a..b', 'a.prototype']) {
      expect((await failure(() => config.set(p, true))).code).toBe('E_INVALID_NAME');
      expect((await failure(() => config.get(p))).code).toBe('E_INVALID_NAME');
      expect((await failure(() => config.delete(p))).code).toBe('E_INVALID_NAME');
      expect((await failure(() => config.explain(p))).code).toBe('E_INVALID_NAME');
    }
    config.set('y', JSON.parse('{"__proto__": {"polluted": "set"}}'));
    await config.save();
    const reopened = await open(dir);
    expect(Object.getOwnPropertyDescriptor(reopened.data, '__proto__')?.value).toEqual({ polluted: 'file' });
    expect(Object.getOwnPropertyDescriptor(reopened.get('y') as object, '__proto__')?.value).toEqual({ polluted: 'set' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('polluted');
    await Promise.all([config.close(), reopened.close()]);
  });

  it('the exported setPath does not pollute through an array path either', () => {
    const doc = setPath({}, ['__proto__', 'polluted'], 1) as Record<string, unknown>;
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getOwnPropertyDescriptor(doc, '__proto__')?.value).toEqual({ polluted: 1 });
  });
});

describe('save() keeps a human’s file', () => {
  it('edits a YAML file full of comments in place: comments, blank lines and key order survive', async () => {
    const original = [
      '# Runtime overrides for the shop.',
      '# Edited by humans and by the admin page.',
      '',
      'server:',
      '  # Behind the load balancer.',
      '  port: 9090 # was 8080',
      '',
      '  # Keep in sync with the LB drain time.',
      '  shutdownGraceSeconds: 30',
      '',
      '# Feature flags',
      'features:',
      '  newCheckout: true   # rolled out 2026-11',
      '  recommendations: false # A/B test',
      '',
      'app:',
      '  name: "shop"   # quoted on purpose',
      '',
      '# Logging',
      'logging:',
      '  level: info',
      '',
    ].join('\n');
    const dir = await dirWith({
      'default.yaml': 'app:\n  name: shop\nserver:\n  host: 127.0.0.1\n  port: 8080\n  shutdownGraceSeconds: 10\nfeatures:\n  newCheckout: false\n  recommendations: true\nlogging:\n  level: info\n',
      'current.yaml': original,
    });
    const config = await open(dir);
    config.set('server.port', 9091);
    config.set('features.recommendations', true); // equal to default.yaml: the override goes away
    config.set('app.name', 'shop-eu');
    config.set('logging.format', 'json');
    config.set('cache', { ttlSeconds: 60 });
    const result = await config.save({ changedBy: 'admin-page', reason: 'tuning' });
    expect(result?.version).toBe(2); // version 1 is the human's file, recorded as external
    const expected = [
      '# Runtime overrides for the shop.',
      '# Edited by humans and by the admin page.',
      '',
      'server:',
      '  # Behind the load balancer.',
      '  port: 9091 # was 8080',
      '',
      '  # Keep in sync with the LB drain time.',
      '  shutdownGraceSeconds: 30',
      '',
      '# Feature flags',
      'features:',
      // The yaml library writes one space before an inline comment, also on lines it did not change.
      '  newCheckout: true # rolled out 2026-11',
      '',
      'app:',
      '  name: "shop-eu" # quoted on purpose',
      '',
      '# Logging',
      'logging:',
      '  level: info',
      '  format: json',
      'cache:',
      '  ttlSeconds: 60',
      '',
    ];
    const actual = (await readFile(path.join(dir, 'current.yaml'), 'utf8')).split('\n');
    for (let i = 0; i < Math.max(actual.length, expected.length); i++) expect(`${i + 1}: ${actual[i]}`).toBe(`${i + 1}: ${expected[i]}`);
    const reopened = await open(dir);
    expect(reopened.data).toEqual(config.data);
    await Promise.all([config.close(), reopened.close()]);
  });

  it.each([
    ['4 spaces', '    '],
    ['tabs', '\t'],
  ])('keeps JSON indentation (%s) and key order', async (_label, unit) => {
    const original = `{\n${unit}"zeta": 1,\n${unit}"alpha": {\n${unit}${unit}"b": 1,\n${unit}${unit}"a": 2\n${unit}},\n${unit}"list": [\n${unit}${unit}1\n${unit}]\n}\n`;
    const dir = await dirWith({ 'current.json': original });
    const config = await open(dir);
    config.set('alpha.a', 3);
    config.set('new', true);
    await config.save();
    const expected = `{\n${unit}"zeta": 1,\n${unit}"alpha": {\n${unit}${unit}"b": 1,\n${unit}${unit}"a": 3\n${unit}},\n${unit}"list": [\n${unit}${unit}1\n${unit}],\n${unit}"new": true\n}\n`;
    expect(await readFile(path.join(dir, 'current.json'), 'utf8')).toBe(expected);
    await config.close();
  });

  it('applies only the changed paths onto the file as it is now, keeping edits made meanwhile', async () => {
    const dir = await dirWith({ 'current.yaml': 'a: 1\nb: 1\n' });
    const config = await open(dir);
    config.set('a', 2);
    await writeFile(path.join(dir, 'current.yaml'), '# added by a human\na: 1\nb: 5\nc: 7\n');
    await config.save();
    expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toBe('# added by a human\na: 2\nb: 5\nc: 7\n');
    expect(config.data).toEqual({ a: 2, b: 5, c: 7 });
    await config.close();
  });

  it('a reload after any mix of set/delete/save yields the same effective configuration', async () => {
    const dir = await dirWith({ ...LAYERED });
    const config = await open(dir, { profile: 'staging' });
    const ops: Array<() => unknown> = [
      () => config.set('server.port', 1234),
      () => config.set('logging', { level: 'error', extra: [1, 2] }),
      () => config.delete('server.port'),
      () => config.set('app.env', 'staging'),
      () => config.set('app.env', null),
      () => config.set('logging.extra.1', 3),
      () => config.delete('logging.extra.0'),
      () => config.set('new.deep.key', { x: 'y' }),
      () => config.delete('new.deep.key.x'),
    ];
    for (const op of ops) {
      op();
      await config.save();
      const fresh = await open(dir, { profile: 'staging' });
      expect(fresh.data).toEqual(config.data);
      await fresh.close();
    }
    await config.close();
  });

  it('save() is backed up, versioned and audited like every save', async () => {
    const dir = await dirWith({ 'current.json': '{"a": 1}\n' });
    const config = await open(dir);
    config.set('a', 2);
    const result = await config.save({ changedBy: 'optimizer', reason: 'auto-tune' });
    expect(result?.backup?.file).toBe('current.json');
    expect(await readFile(path.join(dir, 'backups', result!.backup!.id), 'utf8')).toBe('{"a": 1}\n');
    const audit = (await readFile(path.join(dir, 'audit.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audit.at(-1)).toMatchObject({ op: 'save', file: 'current.json', changedBy: 'optimizer', reason: 'auto-tune' });
    await config.close();
  });
});

describe('events, reload and close', () => {
  it('emits change once per effective change; unsubscribe stops it; a throwing listener goes to error', async () => {
    const dir = await dirWith({ 'default.yaml': 'a: 1\n' });
    const config = await open(dir);
    const events: ConfigurationChangeEvent[] = [];
    const errors: Error[] = [];
    const off = config.on('change', (e) => events.push(e));
    config.on('error', (e) => errors.push(e));
    const offThrower = config.on('change', () => {
      throw new Error('listener bug');
    });
    config.set('a', 2);
    config.set('a', 2); // no effective change
    config.set('b', { c: 1 });
    expect(events.map((e) => [e.source, e.changes.map((c) => c.path)])).toEqual([
      ['set', ['a']],
      ['set', ['b']],
    ]);
    expect(events[0]!.previous).toEqual({ a: 1 });
    expect(events[0]!.data).toEqual({ a: 2 });
    expect(errors.map((e) => e.message)).toEqual(['listener bug', 'listener bug']);
    off();
    offThrower();
    config.delete('b');
    expect(events).toHaveLength(2);
    await config.close();
  });

  it('reload() picks up external edits (and a changed extends chain), keeps unsaved changes, and keeps the last good data on a broken file', async () => {
    const dir = await dirWith({ 'default.yaml': 'a: 1\n', 'profiles/p.yaml': 'b: 1\n', 'profiles/q.yaml': 'q: 1\n', 'current.yaml': 'c: 1\n' });
    const config = await open(dir, { profile: 'p' });
    const events: ConfigurationChangeEvent[] = [];
    config.on('change', (e) => events.push(e));
    config.set('d', 1);
    await writeFile(path.join(dir, 'current.yaml'), 'c: 2\n');
    await writeFile(path.join(dir, 'profiles', 'p.yaml'), '$profile:\n  extends: q\nb: 2\n');
    const changes = await config.reload();
    expect(changes.map((c) => c.path).sort()).toEqual(['b', 'c', 'q']);
    expect(config.data).toEqual({ a: 1, q: 1, b: 2, c: 2, d: 1 });
    expect(events.at(-1)?.source).toBe('reload');
    expect(await config.reload()).toEqual([]);
    await writeFile(path.join(dir, 'current.yaml'), 'c: [\n');
    expect((await failure(config.reload())).code).toBe('E_PARSE');
    expect(config.data).toEqual({ a: 1, q: 1, b: 2, c: 2, d: 1 });
    await config.close();
  });

  it('close() waits for a pending save and later calls fail with E_IO', async () => {
    const dir = await dirWith({});
    const config = await open(dir);
    config.set('a', 1);
    const saving = config.save();
    await config.close();
    await saving;
    expect(JSON.parse(await readFile(path.join(dir, 'current.json'), 'utf8'))).toEqual({ a: 1 });
    expect((await failure(() => config.set('a', 2))).code).toBe('E_CLOSED');
    expect((await failure(config.save())).code).toBe('E_CLOSED');
    expect(config.get('a')).toBe(1); // reading the last snapshot stays possible
  });

  it('the options object is never modified', async () => {
    const dir = await dirWith({ 'profiles/p.yaml': 'x: 1\n' });
    const options = Object.freeze({ baseDir: dir, schemaDir: dir, profile: 'p', envPrefix: 'APP', env: Object.freeze({ APP__Y: '2' }) });
    const config = await Configuration.open(options);
    expect(config.data).toEqual({ x: 1, y: 2 });
    await config.close();
  });
});

describe('openSync', () => {
  it('loads synchronously in a fresh process (no async file-system work) with profiles and env', async () => {
    const dir = await dirWith({ ...LAYERED });
    const script = `
      import { createHook } from 'node:async_hooks';
      import { Configuration } from ${JSON.stringify(DIST)};
      const started = [];
      // Any asynchronous file-system request (FSREQCALLBACK, FSREQPROMISE, FILEHANDLE...) would show up here.
      const hook = createHook({ init(id, type) { if (type.startsWith('FS') || type.startsWith('FILEHANDLE')) started.push(type); } });
      hook.enable();
      const config = Configuration.openSync({ baseDir: ${JSON.stringify(dir)}, schemaDir: ${JSON.stringify(dir)}, envPrefix: 'APP' });
      hook.disable();
      process.stdout.write(JSON.stringify({
        data: config.data,
        profile: config.activeProfile,
        source: config.activeProfileSource,
        port: config.explain('server.port').source,
        grace: config.get('server.shutdownGraceSeconds'),
        asyncFs: started,
      }));
      process.exit(0);
    `;
    const run = await runNode(script, { env: { CONFIG_PROFILE: 'staging', APP__SERVER__SHUTDOWN_GRACE_SECONDS: '45', APP__LOGGING__LEVEL: 'debug #1' } });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({
      data: {
        app: { name: 'shop', env: 'staging' },
        server: { host: '0.0.0.0', port: 9000, shutdownGraceSeconds: 45 },
        logging: { level: 'debug #1', format: 'json' },
      },
      profile: 'staging',
      source: 'env',
      port: { layer: 'current', value: 9000, line: 2 },
      grace: 45,
      asyncFs: [],
    });
  });

  it('gives the same result as open() and the same coded errors', async () => {
    const dir = await dirWith({ ...LAYERED, 'profiles/loop.yaml': '$profile:\n  extends: loop\n' });
    const sync = Configuration.openSync({ baseDir: dir, schemaDir: dir, env: {}, profile: 'staging' });
    const async = await open(dir, { profile: 'staging' });
    expect(sync.data).toEqual(async.data);
    expect(sync.sources).toEqual(async.sources);
    sync.set('server.port', 1);
    await sync.save();
    await async.reload();
    expect(async.get('server.port')).toBe(1);
    await Promise.all([sync.close(), async.close()]);
    expect((await failure(() => Configuration.openSync({ baseDir: dir, schemaDir: dir, env: {}, profile: 'loop' }))).code).toBe('E_VALIDATION');
    expect((await failure(() => Configuration.openSync({ baseDir: dir, schemaDir: dir, env: {}, profile: 'ghost' }))).code).toBe('E_NOT_FOUND');
  });
});
