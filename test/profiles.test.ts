/**
 * Profiles: $profile metadata, extends chains (deep, several parents, diamonds), the coded errors of
 * broken chains, hostile names and keys, validation in resolved form, comments kept on save,
 * listing, delete/copy/rename — all on real files in temp directories.
 */
import { chmod, readdir, readFile, writeFile, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigPersistence, ProfileCycleError } from '../src/index.js';
import { tempDir } from './helpers/tmp.js';

async function failure(p: Promise<unknown>): Promise<{ code?: string; message: string; issues?: Array<{ path: string; message: string; line?: number; column?: number }>; chain?: string[] }> {
  try {
    await p;
  } catch (err) {
    return err as never;
  }
  throw new Error('expected a rejection');
}

async function setup(files: Record<string, string> = {}, opts: { schema?: object } = {}): Promise<{ dir: string; store: ConfigPersistence }> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'profiles'), { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  const store = new ConfigPersistence({ baseDir: dir, schemaDir: dir, ...(opts.schema ? { schema: opts.schema } : {}) });
  return { dir, store };
}

function assertPrototypesClean(): void {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.prototype).not.toHaveProperty('polluted');
  expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('polluted');
}

describe('saveProfile / loadProfile', () => {
  it('keeps metadata under $profile in the file and never in data', async () => {
    const { dir, store } = await setup({ 'default.yaml': 'a: 1\n' });
    await store.saveProfile('base', { server: { port: 80 } }, { description: 'Base settings' });
    await store.saveProfile('dev', { server: { host: 'localhost' } }, { extends: 'base', description: 'Laptop' });
    expect(await readFile(path.join(dir, 'profiles', 'dev.yaml'), 'utf8')).toBe(
      '$profile:\n  extends: base\n  description: Laptop\nserver:\n  host: localhost\n',
    );
    const resolved = await store.loadProfile('dev');
    expect(resolved).toEqual({
      name: 'dev',
      data: { server: { port: 80, host: 'localhost' } },
      meta: { extends: 'base', description: 'Laptop' },
      chain: ['base', 'dev'],
    });
    const own = await store.loadProfile('dev', { resolve: false });
    expect(own.data).toEqual({ server: { host: 'localhost' } });
    expect(own.data).not.toHaveProperty('$profile');
    expect(own.meta).toEqual({ extends: 'base', description: 'Laptop' });
    await store.close();
  });

  it('keeps existing metadata when the options omit it, and removes it with null', async () => {
    const { dir, store } = await setup();
    await store.saveProfile('base', { a: 1 });
    await store.saveProfile('dev', { b: 1 }, { extends: 'base', description: 'x' });
    await store.saveProfile('dev', { b: 2 });
    expect((await store.loadProfile('dev')).meta).toEqual({ extends: 'base', description: 'x' });
    await store.saveProfile('dev', { b: 3 }, { extends: null, description: null });
    expect((await store.loadProfile('dev')).meta).toEqual({});
    expect(JSON.parse(await readFile(path.join(dir, 'profiles', 'dev.json'), 'utf8'))).toEqual({ b: 3 });
    await store.close();
  });

  it('resolves a chain five levels deep, each level overriding the one below', async () => {
    const { store } = await setup();
    await store.saveProfile('l1', { level: 1, l1: true, nested: { a: 1, b: 1, c: 1, d: 1, e: 1 } });
    for (let i = 2; i <= 5; i++) {
      await store.saveProfile(`l${i}`, { level: i, [`l${i}`]: true, nested: { [String.fromCharCode(96 + i)]: i } }, { extends: `l${i - 1}` });
    }
    const profile = await store.loadProfile('l5');
    expect(profile.chain).toEqual(['l1', 'l2', 'l3', 'l4', 'l5']);
    expect(profile.data).toEqual({ level: 5, l1: true, l2: true, l3: true, l4: true, l5: true, nested: { a: 1, b: 2, c: 3, d: 4, e: 5 } });
    await store.close();
  });

  it('follows a long chain (200 profiles) without recursion trouble', async () => {
    const { dir, store } = await setup();
    await writeFile(path.join(dir, 'profiles', 'p0.json'), JSON.stringify({ depth: 0, first: true }));
    for (let i = 1; i < 200; i++) {
      await writeFile(path.join(dir, 'profiles', `p${i}.json`), JSON.stringify({ $profile: { extends: `p${i - 1}` }, depth: i }));
    }
    const profile = await store.loadProfile('p199');
    expect(profile.data).toEqual({ depth: 199, first: true });
    expect(profile.chain).toHaveLength(200);
    await store.close();
  });

  it('merges several parents in the order listed and applies a shared grandparent once (diamond)', async () => {
    const { store } = await setup();
    await store.saveProfile('root', { x: 'root', y: 'root', z: 'root', list: [1] });
    await store.saveProfile('left', { x: 'left' }, { extends: 'root' });
    await store.saveProfile('right', { y: 'right', list: [2, 3] }, { extends: 'root' });
    await store.saveProfile('both', { z: 'both' }, { extends: ['left', 'right'] });
    const profile = await store.loadProfile('both');
    expect(profile.chain).toEqual(['root', 'left', 'right', 'both']);
    // "right" re-applying root's x would undo left's override; linearisation prevents that.
    expect(profile.data).toEqual({ x: 'left', y: 'right', z: 'both', list: [2, 3] });
    await store.close();
  });

  it('applies the SPEC merge rules: objects deep, arrays and scalars replace, null is a value', async () => {
    const { store } = await setup();
    await store.saveProfile('base', { obj: { a: 1, b: { c: 2 } }, arr: [1, 2, 3], s: 'x', gone: 'here' });
    await store.saveProfile('child', { obj: { b: { d: 3 } }, arr: [9], s: 'y', gone: null }, { extends: 'base' });
    expect((await store.loadProfile('child')).data).toEqual({ obj: { a: 1, b: { c: 2, d: 3 } }, arr: [9], s: 'y', gone: null });
    await store.close();
  });

  it('keeps a human’s comments and layout when an existing YAML profile is saved again', async () => {
    const text = [
      '# Development profile',
      '$profile:',
      '  extends: base # inherit the shared settings',
      '  description: Laptop',
      '',
      '# Logging is loud here',
      'logging:',
      '  level: debug # was info',
      '',
      'cache:',
      '  enabled: false',
      '',
    ].join('\n');
    const { dir, store } = await setup({ 'profiles/base.yaml': 'logging:\n  level: info\n', 'profiles/dev.yaml': text });
    await store.saveProfile('dev', { logging: { level: 'trace' }, cache: { enabled: false } });
    expect(await readFile(path.join(dir, 'profiles', 'dev.yaml'), 'utf8')).toBe(text.replace('level: debug # was info', 'level: trace # was info'));
    await store.close();
  });

  it('records every profile save as a version with a backup and an audit line', async () => {
    const { dir, store } = await setup();
    await store.saveProfile('dev', { a: 1 });
    const second = await store.saveProfile('dev', { a: 2 }, { changedBy: 'alice', reason: 'testing' });
    expect(second.version).toBe(2);
    expect(second.backup?.file).toBe('profiles/dev.json');
    expect(await readFile(path.join(dir, 'backups', second.backup!.id), 'utf8')).toBe('{\n  "a": 1\n}\n');
    const audit = (await readFile(path.join(dir, 'audit.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audit.filter((l) => l.file === 'profiles/dev.json').map((l) => [l.op, l.changedBy, l.reason ?? null])).toEqual([
      ['save', 'user', null],
      ['save', 'alice', 'testing'],
    ]);
    await store.close();
  });

  it('refuses $profile inside data and unknown or mistyped $profile fields, with positions', async () => {
    const { store } = await setup({ 'profiles/typo.yaml': '$profile:\n  extend: base\nx: 1\n', 'profiles/bad.yaml': '$profile:\n  extends: 42\n' });
    const inData = await failure(store.saveProfile('x', { $profile: { extends: 'y' } } as never));
    expect(inData.code).toBe('E_VALIDATION');
    const typo = await failure(store.loadProfile('typo'));
    expect(typo.code).toBe('E_VALIDATION');
    expect(typo.issues?.[0]).toMatchObject({ path: '$profile.extend', line: 2, column: 3 });
    const bad = await failure(store.loadProfile('bad'));
    expect(bad.issues?.[0]).toMatchObject({ path: '$profile.extends', message: expect.stringContaining('profile name') });
    await store.close();
  });
});

describe('broken chains give coded errors that name the whole chain', () => {
  it('a cycle is E_VALIDATION (ProfileCycleError) listing every link', async () => {
    const { store } = await setup({
      'profiles/a.yaml': '$profile:\n  extends: b\nv: a\n',
      'profiles/b.yaml': '$profile:\n  extends: c\nv: b\n',
      'profiles/c.yaml': '$profile:\n  extends: a\nv: c\n',
    });
    const err = await failure(store.loadProfile('a'));
    expect(err).toBeInstanceOf(ProfileCycleError);
    expect(err.code).toBe('E_VALIDATION');
    expect(err.chain).toEqual(['a', 'b', 'c', 'a']);
    expect(err.message).toContain('a → b → c → a');
    expect(err.message).toContain('profiles/c.yaml:2:3');
    await store.close();
  });

  it('a profile extending itself, or a cycle further up the chain, is caught too', async () => {
    const { store } = await setup({
      'profiles/self.json': '{"$profile": {"extends": "self"}}',
      'profiles/top.json': '{"$profile": {"extends": "mid"}}',
      'profiles/mid.json': '{"$profile": {"extends": "low"}}',
      'profiles/low.json': '{"$profile": {"extends": ["mid"]}}',
    });
    expect((await failure(store.loadProfile('self'))).chain).toEqual(['self', 'self']);
    const err = await failure(store.loadProfile('top'));
    expect(err.chain).toEqual(['mid', 'low', 'mid']);
    expect(err.message).toContain('mid → low → mid');
    await store.close();
  });

  it('a save that would create a cycle is refused and writes nothing', async () => {
    const { dir, store } = await setup();
    await store.saveProfile('a', { v: 1 });
    await store.saveProfile('b', { v: 2 }, { extends: 'a' });
    const before = await readFile(path.join(dir, 'profiles', 'a.json'), 'utf8');
    const err = await failure(store.saveProfile('a', { v: 3 }, { extends: 'b' }));
    expect(err.code).toBe('E_VALIDATION');
    expect(err.message).toContain('a → b → a');
    expect(await readFile(path.join(dir, 'profiles', 'a.json'), 'utf8')).toBe(before);
    await store.close();
  });

  it('a missing parent is E_NOT_FOUND naming the chain and the file to fix', async () => {
    const { dir, store } = await setup({
      'profiles/app.yaml': '$profile:\n  extends: team\n',
      'profiles/team.yaml': '$profile:\n  extends: [shared, company]\n',
      'profiles/shared.yaml': 'x: 1\n',
    });
    const err = await failure(store.loadProfile('app'));
    expect(err.code).toBe('E_NOT_FOUND');
    expect(err.message).toContain('"app" → "team" → "company"');
    expect(err.message).toContain('profiles/team.yaml');
    const save = await failure(store.saveProfile('orphan', { a: 1 }, { extends: 'nowhere' }));
    expect(save.code).toBe('E_NOT_FOUND');
    expect(await readdir(path.join(dir, 'profiles'))).not.toContain('orphan.yaml');
    expect(await readdir(path.join(dir, 'profiles'))).not.toContain('orphan.json');
    await store.close();
  });

  it.each([
    ['../escape', '"../escape"'],
    ['/etc/passwd', '"/etc/passwd"'],
    ['a\u0000b', '"a\\u0000b"'],
    ['__proto__', '"__proto__"'],
    ['sub/dir', '"sub/dir"'],
    ['', '""'],
  ])('a parent named %j is E_INVALID_NAME naming the chain', async (parent, shown) => {
    const { store } = await setup({
      'profiles/child.json': JSON.stringify({ $profile: { extends: 'middle' } }),
      'profiles/middle.json': JSON.stringify({ $profile: { extends: parent } }),
    });
    const err = await failure(store.loadProfile('child'));
    expect(err.code).toBe('E_INVALID_NAME');
    expect(err.message).toContain(`"child" → "middle" → ${shown}`);
    expect(err.message).toContain('profiles/middle.json');
    await store.close();
  });
});

describe('hostile names and keys', () => {
  it.each(['../x', '..', '/abs', 'a/b', 'a\\b', 'a\u0000b', '.hidden', '__proto__', 'constructor', 'prototype', 'dev.yaml', ' dev', 'x'.repeat(200)])(
    'refuses the profile name %j everywhere with E_INVALID_NAME and creates nothing',
    async (name) => {
      const { dir, store } = await setup();
      expect((await failure(store.saveProfile(name, { a: 1 }))).code).toBe('E_INVALID_NAME');
      expect((await failure(store.loadProfile(name))).code).toBe('E_INVALID_NAME');
      expect((await failure(store.deleteProfile(name))).code).toBe('E_INVALID_NAME');
      expect((await failure(store.profileExists(name))).code).toBe('E_INVALID_NAME');
      expect((await failure(store.copyProfile(name, 'ok'))).code).toBe('E_INVALID_NAME');
      expect((await failure(store.renameProfile('ok', name))).code).toBe('E_INVALID_NAME');
      expect((await failure(store.saveProfile('ok', { a: 1 }, { extends: name }))).code).toBe('E_INVALID_NAME');
      expect(await readdir(path.join(dir, 'profiles'))).toEqual([]);
      expect((await readdir(path.dirname(dir))).filter((n) => n === 'x' || n === 'abs')).toEqual([]);
      await store.close();
    },
  );

  it('keys such as __proto__ and constructor in profile documents stay plain data (JSON and YAML)', async () => {
    const { store } = await setup({
      'profiles/base.json': '{"__proto__": {"polluted": "json"}, "constructor": {"prototype": {"polluted": "json"}}, "safe": {"__proto__": {"polluted": 1}}}',
      'profiles/child.yaml': '$profile:\n  extends: base\n__proto__:\n  polluted: yaml\nsafe:\n  __proto__:\n    polluted: 2\n',
    });
    const profile = await store.loadProfile('child');
    assertPrototypesClean();
    expect(Object.getPrototypeOf(profile.data)).toBe(Object.prototype);
    expect(Object.getOwnPropertyNames(profile.data)).toContain('__proto__');
    expect(Object.getOwnPropertyDescriptor(profile.data, '__proto__')?.value).toEqual({ polluted: 'yaml' });
    expect((profile.data as Record<string, unknown>).polluted).toBeUndefined();
    // A save with such keys writes them as data and reads them back the same way.
    const evil = JSON.parse('{"__proto__": {"polluted": true}, "nested": {"constructor": {"prototype": {"polluted": true}}}}') as Record<string, unknown>;
    await store.saveProfile('evil', evil);
    const back = await store.loadProfile('evil', { resolve: false });
    assertPrototypesClean();
    expect(Object.getOwnPropertyDescriptor(back.data, '__proto__')?.value).toEqual({ polluted: true });
    await store.close();
  });
});

describe('validation in resolved form', () => {
  const schema = {
    type: 'object',
    required: ['server'],
    properties: {
      server: {
        type: 'object',
        required: ['port'],
        properties: { port: { type: 'integer', maximum: 65535 }, host: { type: 'string' } },
        additionalProperties: false,
      },
    },
    additionalProperties: false,
  };

  it('accepts a partial profile that is complete over default.* and refuses an invalid one, writing nothing', async () => {
    const { dir, store } = await setup({ 'default.yaml': 'server:\n  port: 8080\n' }, { schema });
    await store.saveProfile('dev', { server: { host: 'localhost' } });
    const err = await failure(store.saveProfile('dev', { server: { host: 'localhost', port: 70000 } }));
    expect(err.code).toBe('E_VALIDATION');
    expect(await readFile(path.join(dir, 'profiles', 'dev.yaml'), 'utf8')).toBe('server:\n  host: localhost\n');
    await store.close();
  });

  it('points an invalid value inherited from a parent at the parent file and line', async () => {
    const { store } = await setup(
      {
        'default.yaml': 'server:\n  port: 8080\n',
        'profiles/base.yaml': '# base\nserver:\n  port: 99999\n',
        'profiles/dev.yaml': '$profile:\n  extends: base\nserver:\n  host: x\n',
      },
      { schema },
    );
    const err = await failure(store.loadProfile('dev'));
    expect(err.code).toBe('E_VALIDATION');
    expect(err.issues?.[0]?.path).toBe('server.port');
    expect(err.issues?.[0]?.message).toContain('profiles/base.yaml:3:9'); // at the offending value
    // The own values alone are not validated (resolve: false is how you inspect a broken chain).
    expect((await store.loadProfile('dev', { resolve: false })).data).toEqual({ server: { host: 'x' } });
    await store.close();
  });
});

describe('listProfiles, profileExists, deleteProfile, copy and rename', () => {
  it('lists every profile with format, parents, description, size and time; a broken one with its problem', async () => {
    const { dir, store } = await setup({ 'profiles/broken.yaml': 'a: [1,\n', 'profiles/notes.txt': 'not a profile' });
    await store.saveProfile('base', { a: 1 }, { description: 'Base' });
    await store.saveProfile('dev', { b: 1 }, { extends: ['base'] });
    const list = await store.listProfiles();
    expect(list.map((p) => [p.name, p.format, p.extends ?? null, p.description ?? null])).toEqual([
      ['base', 'json', null, 'Base'],
      ['broken', 'yaml', null, null],
      ['dev', 'json', ['base'], null],
    ]);
    const base = list[0]!;
    expect(base.size).toBe((await stat(path.join(dir, 'profiles', 'base.json'))).size);
    expect(Date.parse(base.updatedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(list[1]!.problem).toMatch(/broken\.yaml/);
    expect(await store.profileExists('dev')).toBe(true);
    expect(await store.profileExists('nope')).toBe(false);
    await store.close();
  });

  it('deletes after a backup, refuses while other profiles extend it, and forces when asked', async () => {
    const { dir, store } = await setup();
    await store.saveProfile('base', { a: 1 });
    await store.saveProfile('dev', { b: 1 }, { extends: 'base' });
    const refused = await failure(store.deleteProfile('base'));
    expect(refused.code).toBe('E_CONFLICT');
    expect(refused.message).toContain('"dev"');
    await store.deleteProfile('dev');
    expect(await store.profileExists('dev')).toBe(false);
    const backups = await readdir(path.join(dir, 'backups'));
    const devBackup = backups.find((n) => n.startsWith('profiles~dev.'));
    expect(devBackup).toBeDefined();
    expect(JSON.parse(await readFile(path.join(dir, 'backups', devBackup!), 'utf8'))).toEqual({ $profile: { extends: 'base' }, b: 1 });
    await store.saveProfile('dev2', { c: 1 }, { extends: 'base' });
    await store.deleteProfile('base', { force: true });
    expect((await failure(store.loadProfile('dev2'))).code).toBe('E_NOT_FOUND');
    expect((await failure(store.deleteProfile('base'))).code).toBe('E_NOT_FOUND');
    await store.close();
  });

  it('refuses to delete the persisted active profile unless forced, which clears the choice', async () => {
    const { dir, store } = await setup();
    await store.saveProfile('prod', { a: 1 });
    await store.setActiveProfile('prod');
    expect(await store.getActiveProfile()).toBe('prod');
    expect((await failure(store.deleteProfile('prod'))).code).toBe('E_CONFLICT');
    await store.deleteProfile('prod', { force: true });
    expect(await store.getActiveProfile()).toBeUndefined();
    expect(await readdir(dir)).not.toContain('.active-profile');
    await store.close();
  });

  it('copies byte for byte (comments included) and refuses to overwrite unless asked', async () => {
    const text = '# shared team settings\n$profile:\n  description: Team\nlogging:\n  level: debug # loud\n';
    const { dir, store } = await setup({ 'profiles/team.yaml': text, 'default.json': '{}' });
    await store.copyProfile('team', 'team-copy');
    expect(await readFile(path.join(dir, 'profiles', 'team-copy.yaml'), 'utf8')).toBe(text);
    expect((await failure(store.copyProfile('team', 'team-copy'))).code).toBe('E_CONFLICT');
    expect((await failure(store.copyProfile('team', 'team'))).code).toBe('E_CONFLICT');
    expect((await failure(store.copyProfile('missing', 'x'))).code).toBe('E_NOT_FOUND');
    await store.saveProfile('team-copy', { other: true }, { description: null });
    const replaced = await store.copyProfile('team', 'team-copy', { overwrite: true });
    expect(replaced.backup).toBeDefined();
    expect(await readFile(path.join(dir, 'profiles', 'team-copy.yaml'), 'utf8')).toBe(text);
    await store.close();
  });

  it('a copy or rename of a 0600 profile is 0600 too', async () => {
    const { dir, store } = await setup({ 'profiles/secret.yaml': 'token: a\n', 'default.json': '{}' });
    await chmod(path.join(dir, 'profiles', 'secret.yaml'), 0o600);
    await store.copyProfile('secret', 'secret-copy');
    expect((await stat(path.join(dir, 'profiles', 'secret-copy.yaml'))).mode & 0o777).toBe(0o600);
    await store.renameProfile('secret-copy', 'moved');
    expect((await stat(path.join(dir, 'profiles', 'moved.yaml'))).mode & 0o777).toBe(0o600);
    await store.close();
  });

  it('renames: new file first, old one backed up and removed; the persisted choice follows; dependants block it', async () => {
    const { dir, store } = await setup();
    await store.saveProfile('stage', { a: 1 });
    await store.setActiveProfile('stage');
    await store.renameProfile('stage', 'staging');
    expect(await store.profileExists('stage')).toBe(false);
    expect((await store.loadProfile('staging')).data).toEqual({ a: 1 });
    expect(await store.getActiveProfile()).toBe('staging');
    expect((await readdir(path.join(dir, 'backups'))).some((n) => n.startsWith('profiles~stage.'))).toBe(true);
    await store.saveProfile('child', {}, { extends: 'staging' });
    expect((await failure(store.renameProfile('staging', 'other'))).code).toBe('E_CONFLICT');
    expect(await store.profileExists('staging')).toBe(true);
    expect(await store.profileExists('other')).toBe(false);
    await store.close();
  });

  it('setActiveProfile refuses a profile that does not exist or does not resolve', async () => {
    const { dir, store } = await setup({ 'profiles/broken.json': '{"$profile": {"extends": "gone"}}' });
    expect((await failure(store.setActiveProfile('ghost'))).code).toBe('E_NOT_FOUND');
    expect((await failure(store.setActiveProfile('broken'))).code).toBe('E_NOT_FOUND');
    expect(await readdir(dir)).not.toContain('.active-profile');
    await store.close();
  });
});
