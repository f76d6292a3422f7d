/**
 * The validator cache: a first start writes the compiled validator, later starts run it without
 * loading ajv, with the same errors (file:line:column) and formats; openSync stays synchronous;
 * a tampered, truncated, foreign or over-permissive file is never run; an unwritable cache
 * directory only means compiling; the cache can be moved and turned off.
 */
import { randomUUID } from 'node:crypto';
import { chmod, chown, mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigPersistence } from '../src/index.js';
import { formatsWithFastPaths, SIMPLE_URI } from '../src/schema/formats.js';
import { requireDependency } from '../src/core/lazy-deps.js';
import { compileSchema } from '../src/schema/compiler.js';
import { CACHE_DIR_ENV, resolveCacheDir, ValidatorCache } from '../src/storage/local/validator-cache.js';
import { DIST, runNode, tempDir } from './helpers/tmp.js';

/** A schema with formats, defaults (an object default too) and limits; `$comment` makes it unique per test. */
function schemaFor(): Record<string, unknown> {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $comment: randomUUID(),
    type: 'object',
    properties: {
      server: {
        type: 'object',
        properties: { host: { type: 'string', minLength: 1 }, port: { type: 'integer', minimum: 1, maximum: 65535 }, grace: { type: 'number', default: 10 } },
        additionalProperties: false,
      },
      database: { type: 'object', properties: { url: { type: 'string', format: 'uri' } } },
      allowedOrigins: { type: 'array', items: { type: 'string', format: 'uri' } },
      cache: { type: 'object', default: {}, properties: { ttl: { type: 'integer', default: 300 } } },
    },
    additionalProperties: false,
  };
}

const VALID = 'server:\n  host: 127.0.0.1\n  port: 8080\ndatabase:\n  url: postgres://localhost:5432/shop\nallowedOrigins:\n  - http://localhost:3000\n';
const INVALID = 'server:\n  host: 127.0.0.1\n  port: 70000\n  colour: red\ndatabase:\n  url: "::not a uri"\nallowedOrigins:\n  - http://[::1]:3000/\n  - "not a uri"\n';

/** A project directory: config/default.yaml (+ current.yaml) and schemas/config.schema.json. */
async function project(schema: object, current?: string): Promise<{ cwd: string; cache: string }> {
  const cwd = await tempDir();
  await mkdir(path.join(cwd, 'config'), { recursive: true });
  await mkdir(path.join(cwd, 'schemas'), { recursive: true });
  await writeFile(path.join(cwd, 'config', 'default.yaml'), VALID);
  if (current !== undefined) await writeFile(path.join(cwd, 'config', 'current.yaml'), current);
  await writeFile(path.join(cwd, 'schemas', 'config.schema.json'), JSON.stringify(schema, null, 2));
  return { cwd, cache: path.join(cwd, 'validator-cache') };
}

interface ChildResult {
  data?: unknown;
  error?: { code: string; message: string; issues?: unknown };
  ajvLoaded: boolean;
  sync?: boolean;
}

/** Opens the configuration in a fresh process (the build), like an application starting. */
async function start(cwd: string, cacheDir: string, how: 'open' | 'openSync' = 'open'): Promise<ChildResult> {
  const script = `
    import { createRequire } from 'node:module';
    const require = createRequire(import.meta.url);
    const { Configuration } = await import(${JSON.stringify(DIST)});
    const out = {};
    try {
      const opened = Configuration.${how}({ baseDir: 'config' });
      out.sync = !(opened instanceof Promise);
      const config = await opened;
      out.data = config.data;
    } catch (err) {
      out.error = { code: err.code, message: err.message, issues: err.issues };
    }
    out.ajvLoaded = Object.keys(require.cache).some((k) => k.includes('/ajv/dist/core.js'));
    process.stdout.write(JSON.stringify(out));
  `;
  const result = await runNode(script, { cwd, env: { [CACHE_DIR_ENV]: cacheDir, NODE_DEBUG: '' } });
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as ChildResult;
}

async function cacheFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.validator.cjs'));
}

describe('validator cache across processes', () => {
  it('a first start writes the compiled validator; the next start runs it without loading ajv', async () => {
    const { cwd, cache } = await project(schemaFor());
    const first = await start(cwd, cache);
    expect(first.error).toBeUndefined();
    expect(first.ajvLoaded).toBe(true);
    const files = await cacheFiles(cache);
    expect(files).toHaveLength(1);
    expect((await stat(path.join(cache, files[0]!))).mode & 0o777).toBe(0o600);
    expect((await stat(cache)).mode & 0o777).toBe(0o700);

    const second = await start(cwd, cache);
    expect(second.ajvLoaded).toBe(false);
    expect(second.data).toEqual(first.data);
    // Defaults come from the cached validator too, the object default included.
    expect(second.data).toMatchObject({ server: { grace: 10 }, cache: { ttl: 300 } });
  });

  it('errors from a cached validator are the same, with file:line:column, and formats still apply', async () => {
    const { cwd, cache } = await project(schemaFor(), INVALID);
    const uncached = await start(cwd, 'off');
    expect(uncached.error?.code).toBe('E_VALIDATION');
    const writing = await start(cwd, cache);
    const cached = await start(cwd, cache);
    expect(cached.ajvLoaded).toBe(false);
    expect(writing.error).toEqual(uncached.error);
    expect(cached.error).toEqual(uncached.error);
    const issues = cached.error!.issues as Array<{ path: string; line?: number; column?: number; message: string }>;
    // In file order, at each offending value (an unknown property at its key, a list item at the item).
    expect(issues.map((i) => [i.path, i.line, i.column])).toEqual([
      ['server.port', 3, 9],
      ['server.colour', 4, 3],
      ['database.url', 6, 8],
      ['allowedOrigins.1', 9, 5],
    ]);
    expect(issues[2]!.message).toMatch(/must match format "uri"/);
  });

  it('openSync runs the cached validator and stays synchronous', async () => {
    const { cwd, cache } = await project(schemaFor());
    const viaOpen = await start(cwd, cache);
    const viaSync = await start(cwd, cache, 'openSync');
    expect(viaSync.sync).toBe(true);
    expect(viaSync.ajvLoaded).toBe(false);
    expect(viaSync.data).toEqual(viaOpen.data);
  });

  it('a changed schema gets its own file; the old one is simply not read again', async () => {
    const schema = schemaFor();
    const { cwd, cache } = await project(schema);
    await start(cwd, cache);
    await writeFile(path.join(cwd, 'schemas', 'config.schema.json'), JSON.stringify({ ...schema, $comment: 'changed' }));
    const after = await start(cwd, cache);
    expect(after.ajvLoaded).toBe(true);
    expect(await cacheFiles(cache)).toHaveLength(2);
  });

  it('a tampered file is refused, compiled again and rewritten', async () => {
    const { cwd, cache } = await project(schemaFor(), INVALID);
    const expected = (await start(cwd, cache)).error;
    const [file] = await cacheFiles(cache);
    const full = path.join(cache, file!);
    const original = await readFile(full, 'utf8');
    // A validator that accepts everything, under the old header: the checksum no longer matches.
    await writeFile(full, original.replace(/module\.exports = (\w+);/, 'module.exports = () => true;'), { mode: 0o600 });
    const after = await start(cwd, cache);
    expect(after.ajvLoaded).toBe(true);
    expect(after.error).toEqual(expected);
    expect(await readFile(full, 'utf8')).toBe(original);
  });
});

describe('ValidatorCache', () => {
  /** A real standalone validator source, stored under a fresh key. */
  async function stored(): Promise<{ cache: ValidatorCache; key: string; file: string; source: string }> {
    const dir = path.join(await tempDir(), 'cache');
    const cache = new ValidatorCache(dir);
    const { source } = compileSchema({ schema: schemaFor(), draft: '2020-12', useDefaults: true, checkSchema: true, standalone: true, file: undefined });
    const key = createHash('sha256').update(randomUUID()).digest('hex');
    cache.store(key, source!);
    return { cache, key, file: cache.fileOf(key), source: source! };
  }

  /** Rewrites the file with `body` under a header whose checksum matches it. */
  async function resign(file: string, key: string, body: string): Promise<void> {
    const sha = createHash('sha256').update(body).digest('hex');
    await writeFile(file, `// config-persistence validator cache 1 key=${key} sha256=${sha}\n${body}`, { mode: 0o600 });
    await chmod(file, 0o600);
  }

  it('loads what it stored: a working validator with formats and defaults', async () => {
    const { cache, key } = await stored();
    const validate = cache.load(key)!;
    expect(typeof validate).toBe('function');
    const a: Record<string, unknown> = { database: { url: 'https://db.example.com/x' } };
    expect(validate(a)).toBe(true);
    expect(a).toMatchObject({ cache: { ttl: 300 } });
    const b: Record<string, unknown> = {};
    validate(b);
    expect(b.cache).not.toBe(a.cache); // an object default is a fresh object every time
    expect(validate({ database: { url: 'not a uri' } })).toBe(false);
    expect(validate.errors?.[0]).toMatchObject({ keyword: 'format', instancePath: '/database/url' });
  });

  it('prunes on each write: files unused for 30 days, the least recently used beyond 100, dead writers\' temp files; nothing else', async () => {
    const { cache, key, file, source } = await stored();
    const dir = path.dirname(file);
    const day = 24 * 60 * 60 * 1000;
    const at = async (f: string, ageMs: number) => {
      const t = new Date(Date.now() - ageMs);
      await utimes(f, t, t);
    };
    const keyOf = (n: number) => createHash('sha256').update(`k${n}`).digest('hex');
    // 105 recent validators of other schemas (as other processes left them), each a little older
    // than the one before.
    const text = await readFile(file);
    for (let n = 0; n < 105; n++) {
      await writeFile(cache.fileOf(keyOf(n)), text, { mode: 0o600 });
      await at(cache.fileOf(keyOf(n)), (n + 1) * 60_000);
    }
    await at(file, 40 * day); // the first one: not used for 40 days
    const oldTemp = path.join(dir, `.${keyOf(999)}.123.abcdef01.tmp`);
    const freshTemp = path.join(dir, `.${keyOf(998)}.124.abcdef02.tmp`);
    const foreign = path.join(dir, 'notes.txt');
    for (const f of [oldTemp, freshTemp, foreign]) await writeFile(f, 'x', { mode: 0o600 });
    await at(oldTemp, 2 * 60 * 60 * 1000);
    await at(foreign, 400 * day);
    const fresh = createHash('sha256').update('fresh').digest('hex');
    cache.store(fresh, source); // this write prunes
    const names = new Set(await readdir(dir));
    expect(names.has(path.basename(cache.fileOf(fresh)))).toBe(true);
    expect(names.has(path.basename(file))).toBe(false); // unused for 40 days
    expect(names.has(path.basename(oldTemp))).toBe(false);
    expect(names.has(path.basename(freshTemp))).toBe(true); // its writer may still be at work
    expect(names.has('notes.txt')).toBe(true); // not a name the cache makes
    const validators = [...names].filter((n) => n.endsWith('.validator.cjs'));
    expect(validators).toHaveLength(100);
    // The newest 99 of the others stay; the six least recently used went.
    for (let n = 0; n < 99; n++) expect(names.has(path.basename(cache.fileOf(keyOf(n)))), `k${n}`).toBe(true);
    for (let n = 99; n < 105; n++) expect(names.has(path.basename(cache.fileOf(keyOf(n)))), `k${n}`).toBe(false);
    expect(cache.load(key)).toBeUndefined(); // pruned: compiled again next time
  });

  it('a load marks a file used when it was last used more than a day ago', async () => {
    const { cache, key, file } = await stored();
    const old = new Date(Date.now() - 3 * 24 * 60 * 60 * 1000);
    await utimes(file, old, old);
    expect(cache.load(key)).toBeTypeOf('function');
    expect(Date.now() - (await stat(file)).mtimeMs).toBeLessThan(60_000);
  });

  it('refuses a file whose checksum does not match (torn, truncated or edited)', async () => {
    const { cache, key, file } = await stored();
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.slice(0, text.length - 100));
    expect(cache.load(key)).toBeUndefined();
    await writeFile(file, text.replace('"use strict";', '"use strict";globalThis.__cpTampered = true;'));
    expect(cache.load(key)).toBeUndefined();
    expect((globalThis as { __cpTampered?: boolean }).__cpTampered).toBeUndefined();
  });

  it('refuses a file stored under another key', async () => {
    const { cache, key, file } = await stored();
    const other = createHash('sha256').update('other').digest('hex');
    await writeFile(cache.fileOf(other), await readFile(file));
    expect(cache.load(other)).toBeUndefined();
    expect(cache.load(key)).toBeDefined();
  });

  it('refuses code that requires anything but ajv runtime helpers and formats', async () => {
    const { cache, key, file, source } = await stored();
    await resign(file, key, `const cp = require("node:child_process");\n${source}`);
    expect(cache.load(key)).toBeUndefined();
  });

  it.skipIf(typeof process.getuid !== 'function')('refuses a file or directory writable by others, or owned by another user', async () => {
    const { cache, key, file } = await stored();
    await chmod(file, 0o666);
    expect(cache.load(key)).toBeUndefined();
    await chmod(file, 0o600);
    expect(cache.load(key)).toBeDefined();
    await chmod(cache.dir, 0o777);
    expect(cache.load(key)).toBeUndefined();
    await chmod(cache.dir, 0o700);
    if (process.getuid!() === 0) {
      await chown(file, 65534, 65534);
      expect(cache.load(key)).toBeUndefined();
    }
  });

  it('a cache directory that cannot be created only means compiling', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'a-file'), 'x');
    await writeFile(path.join(dir, 'current.yaml'), 'server:\n  port: 70000\n');
    const cp = new ConfigPersistence({ baseDir: dir, schema: schemaFor(), validatorCache: path.join(dir, 'a-file', 'cache') });
    await expect(cp.loadConfig('current.yaml')).rejects.toMatchObject({ code: 'E_VALIDATION' });
    await writeFile(path.join(dir, 'ok.yaml'), VALID);
    await expect(cp.loadConfig('ok.yaml')).resolves.toMatchObject({ server: { port: 8080 } });
    expect(await readdir(dir)).not.toContain('cache');
    await cp.close();
  });

  it.skipIf(process.platform !== 'linux')('a cache directory under /proc (a service account without a real home) does not hang', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'ok.yaml'), VALID);
    const cp = new ConfigPersistence({ baseDir: dir, schema: schemaFor(), validatorCache: '/proc/config-persistence-no-such-dir/cache' });
    await expect(cp.loadConfig('ok.yaml')).resolves.toMatchObject({ server: { port: 8080 } });
    await cp.close();
  });

  it('validatorCache: false writes nothing, even with the environment variable set', async () => {
    const dir = await tempDir();
    const cacheDir = path.join(dir, 'cache');
    await writeFile(path.join(dir, 'current.yaml'), VALID);
    const saved = process.env[CACHE_DIR_ENV];
    process.env[CACHE_DIR_ENV] = cacheDir;
    try {
      const off = new ConfigPersistence({ baseDir: dir, schema: schemaFor(), validatorCache: false });
      await off.loadConfig('current.yaml');
      await off.close();
      expect(await readdir(dir)).not.toContain('cache');
      const fromEnv = new ConfigPersistence({ baseDir: dir, schema: schemaFor() });
      await fromEnv.loadConfig('current.yaml');
      await fromEnv.close();
      expect(await cacheFiles(cacheDir)).toHaveLength(1);
    } finally {
      process.env[CACHE_DIR_ENV] = saved;
    }
  });
});

describe('where the cache lives', () => {
  it('the option wins, then the environment (a directory, or off), then the user cache directory', () => {
    expect(resolveCacheDir(false, { [CACHE_DIR_ENV]: '/tmp/x' })).toBeUndefined();
    expect(resolveCacheDir('/opt/cache', { [CACHE_DIR_ENV]: 'off' })).toBe('/opt/cache');
    expect(resolveCacheDir(undefined, { [CACHE_DIR_ENV]: 'off' })).toBeUndefined();
    expect(resolveCacheDir(undefined, { [CACHE_DIR_ENV]: '/var/cache/app' })).toBe('/var/cache/app');
    if (process.platform === 'linux') {
      expect(resolveCacheDir(undefined, { XDG_CACHE_HOME: '/home/u/.xdg' })).toBe('/home/u/.xdg/config-persistence');
      expect(resolveCacheDir(undefined, {})).toMatch(/\/\.cache\/config-persistence$/);
    }
  });
});

describe('uri quick check', () => {
  const fullUri = requireDependency<{ fullFormats: { uri: (s: string) => boolean } }>('ajv-formats/dist/formats').fullFormats.uri;
  const quickUri = formatsWithFastPaths().fullFormats.uri as (s: string) => boolean;

  it('accepts only what ajv-formats accepts (generated URLs and near misses)', () => {
    const chars = (alphabet: string, min: number, max: number): fc.Arbitrary<string> =>
      fc.array(fc.constantFrom(...alphabet.split('')), { minLength: min, maxLength: max }).map((a) => a.join(''));
    const shaped = fc
      .tuple(
        fc.constantFrom('http', 'https', 'postgres', 'redis+tls', 'S3', 'git.ssh', 'a'),
        fc.constantFrom('://', ':/', ':', '//', '://:', ':///'),
        chars('abcXYZ019.-_~@:[]%', 0, 12),
        fc.option(fc.integer({ min: 0, max: 999999 }).map(String)),
        fc.array(chars('abc019._~-%?#/ é', 0, 6), { maxLength: 3 }),
      )
      .map(([scheme, sep, host, port, segments]) => `${scheme}${sep}${host}${port === null ? '' : `:${port}`}${segments.map((s) => `/${s}`).join('')}`);
    fc.assert(
      fc.property(fc.oneof(shaped, fc.string(), fc.webUrl()), (value) => {
        if (SIMPLE_URI.test(value)) expect(fullUri(value)).toBe(true);
        expect(quickUri(value)).toBe(fullUri(value));
      }),
      { numRuns: 3000 },
    );
  });

  it('sends what it does not recognise to the full check', () => {
    for (const value of ['http://[::1]:3000/', 'mailto:someone@example.com', 'urn:isbn:0451450523', 'https://u:p@example.com/?q=1#f']) {
      expect(SIMPLE_URI.test(value)).toBe(false);
      expect(quickUri(value)).toBe(true);
    }
    for (const value of ['not a uri', '::', 'http://exa mple.com', '']) expect(quickUri(value)).toBe(false);
  });
});
