/**
 * Schema validation: file:line:column for JSON and YAML (nested objects, arrays, unknown and
 * missing properties), every issue at once, defaults filled on load and never written back,
 * invalid saves change nothing, and where the schema comes from.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigPersistence, ValidationError } from '../src/index.js';
import type { ValidationIssue } from '../src/index.js';
import { tempDir } from './helpers/tmp.js';

const schema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1 },
    api: {
      type: 'object',
      properties: { host: { type: 'string' }, port: { type: 'integer', minimum: 1, maximum: 65535 } },
      additionalProperties: false,
    },
    allowedOrigins: { type: 'array', items: { type: 'string', format: 'uri' } },
    servers: {
      type: 'array',
      items: { type: 'object', required: ['host'], properties: { host: { type: 'string' }, port: { type: 'integer', maximum: 65535 } } },
    },
    db: {
      type: 'object',
      required: ['url'],
      properties: { url: { type: 'string', format: 'uri' }, pool: { type: 'integer', default: 5 } },
    },
    cache: {
      type: 'object',
      default: {},
      properties: { enabled: { type: 'boolean', default: true }, ttlSeconds: { type: 'integer', default: 300 } },
    },
  },
  additionalProperties: false,
};

async function open(files: Record<string, string> = {}, options: ConstructorParameters<typeof ConfigPersistence>[0] = {}): Promise<{ dir: string; cp: ConfigPersistence }> {
  const dir = await tempDir();
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  return { dir, cp: new ConfigPersistence({ baseDir: dir, schema, ...options }) };
}

async function validationError(p: Promise<unknown>): Promise<ValidationError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ValidationError);
  return err as ValidationError;
}

const at = (issues: ValidationIssue[]) => issues.map((i) => `${i.line}:${i.column} ${i.path} ${i.message}`);

describe('positions', () => {
  it('YAML: nested value, unknown key, array item, missing property — all at once, top to bottom', async () => {
    const yaml = [
      '# shop settings', //                 1
      'name: shop', //                      2
      'api:', //                            3
      '  host: localhost', //               4
      '  # the public port', //             5
      '  port: 70000', //                   6
      '  extra: 1', //                      7
      'allowedOrigins:', //                 8
      '  - https://a.example.com', //       9
      '  - not a uri', //                   10
      'db:', //                             11
      '  pool: 3', //                       12
      '',
    ].join('\n');
    const { cp } = await open({ 'current.yaml': yaml });
    const err = await validationError(cp.loadConfig());
    expect(err.code).toBe('E_VALIDATION');
    expect(at(err.issues)).toEqual([
      '6:9 api.port must be <= 65535',
      '7:3 api.extra is not allowed here (unknown property)',
      '10:5 allowedOrigins.1 must match format "uri"',
      '11:1 db.url is required',
    ]);
    expect(err.issues.map((i) => i.value)).toEqual([70000, 1, 'not a uri', undefined]);
    expect(err.message).toMatch(/current\.yaml:6:9 api\.port must be <= 65535\n/);
    expect(err.message).toMatch(/current\.yaml:10:5 allowedOrigins\.1 must match format "uri"\n/);
    expect(err.message).toMatch(/\(4 issues\)/);
    await cp.close();
  });

  it('JSON: the same issues at the same kinds of places', async () => {
    const json = [
      '{', //                                         1
      '  "name": "shop",', //                          2
      '  "api": {', //                                 3
      '    "host": "localhost",', //                   4
      '    "port": 70000,', //                         5
      '    "extra": 1', //                             6
      '  },', //                                       7
      '  "allowedOrigins": [', //                      8
      '    "https://a.example.com",', //               9
      '    "not a uri"', //                            10
      '  ],', //                                       11
      '  "db": { "pool": 3 }', //                      12
      '}',
      '',
    ].join('\n');
    const { cp } = await open({ 'current.json': json });
    const err = await validationError(cp.loadConfig());
    expect(at(err.issues)).toEqual([
      '5:13 api.port must be <= 65535',
      '6:5 api.extra is not allowed here (unknown property)',
      '10:5 allowedOrigins.1 must match format "uri"',
      '12:3 db.url is required',
    ]);
    await cp.close();
  });

  it('objects inside arrays, flow style, and a missing property at the root', async () => {
    const yaml = ['servers:', '  - host: a', '    port: 1', '  - port: 99999', 'api: { port: 0, host: h }', ''].join('\n');
    const { cp } = await open({ 'current.yaml': yaml });
    const err = await validationError(cp.loadConfig());
    expect(at(err.issues)).toEqual([
      // `name` is missing at the root: the root mapping starts at 1:1
      '1:1 name is required',
      '4:5 servers.1.host is required', // points at the list item that lacks it
      '4:11 servers.1.port must be <= 65535',
      '5:14 api.port must be >= 1',
    ]);
    await cp.close();
  });

  it('JSON arrays of objects', async () => {
    const json = '{\n  "name": "x",\n  "servers": [\n    { "host": "a" },\n    { "host": 5, "port": -1.5 }\n  ]\n}\n';
    const { cp } = await open({ 'other.json': json });
    const err = await validationError(cp.loadConfig('other.json'));
    expect(at(err.issues)).toEqual(['5:15 servers.1.host must be string', '5:26 servers.1.port must be integer']);
    await cp.close();
  });

  it('every issue is reported, not only the first', async () => {
    const lines = ['name: ""', 'api:'];
    for (let i = 0; i < 30; i++) lines.push(`  k${i}: ${i}`);
    const { cp } = await open({ 'current.yaml': `${lines.join('\n')}\n` });
    const err = await validationError(cp.loadConfig());
    expect(err.issues).toHaveLength(31);
    expect(err.issues[0]).toMatchObject({ path: 'name', line: 1, column: 7, message: 'must NOT have fewer than 1 characters' });
    expect(err.issues[30]).toMatchObject({ path: 'api.k29', line: 32, column: 3 });
    await cp.close();
  });
});

describe('defaults', () => {
  it('fill missing values on load, including inside objects that are themselves defaulted', async () => {
    const text = 'name: shop\ndb:\n  url: postgres://db/shop\n';
    const { dir, cp } = await open({ 'current.yaml': text });
    const loaded = await cp.loadConfig();
    expect(loaded).toEqual({ name: 'shop', db: { url: 'postgres://db/shop', pool: 5 }, cache: { enabled: true, ttlSeconds: 300 } });
    // Loading never writes: the file is as it was.
    expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toBe(text);
    // Each load is a fresh document.
    (loaded as { name: string }).name = 'changed';
    expect(await cp.loadConfig()).toMatchObject({ name: 'shop' });
    await cp.close();
  });

  it('are never written back unless the caller saves them', async () => {
    const { dir, cp } = await open({ 'current.yaml': 'name: shop\n' });
    await cp.saveConfig({ name: 'other' });
    expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toBe('name: other\n');
    await cp.update(undefined, (c) => ({ ...(c as object), name: 'third' }) as never);
    expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toBe('name: third\n');
    // Saving what loadConfig returned is asking for them.
    await cp.saveConfig(await cp.loadConfig());
    expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toContain('ttlSeconds: 300');
    await cp.close();
  });

  it('do not change the schema object the caller passed', async () => {
    const mine = structuredClone(schema);
    const { cp } = await open({ 'current.yaml': 'name: shop\n' }, { schema: mine });
    await cp.loadConfig();
    expect(mine).toEqual(schema);
    await cp.close();
  });
});

describe('validation before saving', () => {
  it('an invalid save changes nothing: no file, backup or history entry', async () => {
    const { dir, cp } = await open();
    await cp.saveConfig({ name: 'shop', api: { port: 80 } });
    const before = await readFile(path.join(dir, 'current.json'), 'utf8');
    const err = await validationError(cp.saveConfig({ name: 'shop', api: { port: 70000, bogus: true } } as never));
    // No source text for a document being saved: no positions, every issue still there.
    expect(err.issues.every((i) => i.line === undefined)).toBe(true);
    expect(err.issues.map((i) => [i.path, i.message, i.value]).sort()).toEqual([
      ['api.bogus', 'is not allowed here (unknown property)', true],
      ['api.port', 'must be <= 65535', 70000],
    ]);
    expect(await readFile(path.join(dir, 'current.json'), 'utf8')).toBe(before);
    expect(await cp.listBackups()).toEqual([]);
    expect(await cp.history()).toHaveLength(1);
    expect(await readdir(dir)).not.toContain('backups');
    // update() validates too.
    expect((await validationError(cp.update(undefined, () => ({ name: 5 }) as never))).issues[0]).toMatchObject({ path: 'name', message: 'must be string' });
    expect(await readFile(path.join(dir, 'current.json'), 'utf8')).toBe(before);
    await cp.close();
  });
});

describe('where the schema comes from', () => {
  it('schemas/config.schema.json under schemaDir is the default', async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, 'schemas'));
    await writeFile(path.join(dir, 'schemas', 'config.schema.json'), JSON.stringify({ type: 'object', properties: { port: { type: 'integer' } } }));
    const cp = new ConfigPersistence({ baseDir: path.join(dir, 'config'), schemaDir: path.join(dir, 'schemas') });
    expect((await validationError(cp.saveConfig({ port: 'x' }))).issues[0]).toMatchObject({ path: 'port', message: 'must be integer' });
    await cp.close();
    // Without that file, anything goes.
    const free = new ConfigPersistence({ baseDir: path.join(dir, 'config2'), schemaDir: path.join(dir, 'nowhere') });
    await free.saveConfig({ port: 'x' });
    expect(await free.loadConfig()).toEqual({ port: 'x' });
    await free.close();
  });

  it('a file name under schemaDir, JSON or YAML', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'app.schema.yaml'), 'type: object\nproperties:\n  level:\n    enum: [info, warn]\n');
    const cp = new ConfigPersistence({ baseDir: path.join(dir, 'config'), schemaDir: dir, schema: 'app.schema.yaml' });
    expect((await validationError(cp.saveConfig({ level: 'loud' }))).issues[0]).toMatchObject({ path: 'level', message: 'must be one of "info", "warn"', value: 'loud' });
    await cp.close();
  });

  it('draft-07 schemas (by their $schema) work too', async () => {
    const draft7 = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      definitions: { port: { type: 'integer', maximum: 65535 } },
      type: 'object',
      properties: { port: { $ref: '#/definitions/port' } },
    };
    const { cp } = await open({ 'current.json': '{\n  "port": 70000\n}\n' }, { schema: draft7 });
    expect(at((await validationError(cp.loadConfig())).issues)).toEqual(['2:11 port must be <= 65535']);
    await cp.close();
  });

  it('a missing named schema is E_IO, an unreadable or invalid one E_PARSE', async () => {
    const dir = await tempDir();
    const make = (file: string) => new ConfigPersistence({ baseDir: path.join(dir, 'config'), schemaDir: dir, schema: file });
    const code = (p: Promise<unknown>) => p.then(() => 'resolved', (e: { code: string }) => e.code);
    expect(await code(make('missing.json').saveConfig({}))).toBe('E_IO');
    await writeFile(path.join(dir, 'broken.json'), '{ "type": ');
    expect(await code(make('broken.json').saveConfig({}))).toBe('E_PARSE');
    await writeFile(path.join(dir, 'nonsense.json'), JSON.stringify({ type: 'no-such-type' }));
    const err = await make('nonsense.json').saveConfig({}).catch((e: Error & { code: string }) => e);
    expect(err).toMatchObject({ code: 'E_PARSE' });
    expect((err as Error).message).toMatch(/nonsense\.json is not a valid JSON Schema/);
  });
});
