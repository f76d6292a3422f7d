/**
 * Bundles across schema versions: an export records the version its items are at, an import into
 * a directory at a newer version migrates them with the store's own steps before it plans and
 * validates, and anything it cannot migrate is refused with nothing written. Real directories and
 * the real CLI.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigPersistence, type Bundle, type Migration } from '../src/index.js';
import { cli } from './helpers/cli.js';
import { rejection, tempDir } from './helpers/tmp.js';

/** The newest layout: port under server, log.level; the database password is a secret. */
const SCHEMA = {
  type: 'object',
  properties: {
    server: { type: 'object', properties: { port: { type: 'integer' } }, additionalProperties: false },
    log: { type: 'object', properties: { level: { enum: ['debug', 'info'] } }, additionalProperties: false },
    db: { type: 'object', properties: { password: { type: 'string', 'x-secret': true } }, additionalProperties: false },
  },
  additionalProperties: false,
} as const;

/** The version 0 layout: `port` as a string at the top, `verbose`, `dbPassword` (secret there too). */
const OLD_SCHEMA = {
  type: 'object',
  properties: { port: { type: 'string' }, verbose: { type: 'boolean' }, dbPassword: { type: 'string', 'x-secret': true } },
  additionalProperties: false,
} as const;

/** 1: port becomes a number and moves under server; 2: verbose becomes log.level, dbPassword db.password. */
const STEPS: Migration[] = [
  {
    version: 1,
    up: (doc) => {
      if (doc.port === undefined) return doc;
      const { port, ...rest } = doc;
      return { ...rest, server: { port: Number(port) } };
    },
  },
  {
    version: 2,
    up: (doc) => {
      const { verbose, dbPassword, ...rest } = doc;
      return { ...rest, ...(verbose !== undefined ? { log: { level: verbose ? 'debug' : 'info' } } : {}), ...(dbPassword !== undefined ? { db: { password: dbPassword } } : {}) };
    },
  },
];

/** A directory written by the old application (no migrations, version 0), and its bundle. */
async function oldBundle(opts: { includeSecrets?: boolean } = {}): Promise<Bundle> {
  const dir = await tempDir('cp-mb-old-');
  await mkdir(path.join(dir, 'profiles'));
  await writeFile(path.join(dir, 'current.json'), '{ "port": "8080", "verbose": true, "dbPassword": "from-old" }\n');
  await writeFile(path.join(dir, 'profiles', 'dev.yaml'), '$profile:\n  description: laptop\nport: "3000"\n');
  const store = new ConfigPersistence({ baseDir: dir, schema: OLD_SCHEMA });
  const bundle = await store.exportBundle({ ...opts, encrypt: false });
  await store.close();
  return bundle;
}

/** A directory at version 2 (migrated by `STEPS`), with its own current.json. */
async function newDir(): Promise<string> {
  const dir = await tempDir('cp-mb-new-');
  await writeFile(path.join(dir, 'current.json'), '{ "port": "1", "dbPassword": "kept-secret" }\n');
  const store = new ConfigPersistence({ baseDir: dir, schema: SCHEMA, migrations: STEPS });
  expect(await store.schemaVersion()).toBe(2);
  await store.close();
  return dir;
}

describe('bundles and schema versions', () => {
  it('an export records the directory schema version (none at version 0), covered by the checksum', async () => {
    const old = await oldBundle();
    expect(old.schemaVersion).toBeUndefined();
    const dir = await newDir();
    const store = new ConfigPersistence({ baseDir: dir, schema: SCHEMA, migrations: STEPS });
    const bundle = await store.exportBundle({ encrypt: false });
    expect(bundle.schemaVersion).toBe(2);
    // Changing the recorded version breaks the checksum: it cannot be lowered to skip a migration.
    const err = await rejection(store.importBundle({ ...bundle, schemaVersion: 1 }, { onConflict: 'skip' }));
    expect(err.code).toBe('E_CHECKSUM');
    const bad = await rejection(store.importBundle({ ...bundle, schemaVersion: -1 }, { onConflict: 'skip' }));
    expect(bad.code).toBe('E_PARSE');
    expect(bad.message).toContain('schemaVersion');
    await store.close();
  });

  it('an older bundle is migrated into a newer directory: layout, $profile and secrets kept where the steps moved them', async () => {
    const bundle = await oldBundle(); // dbPassword exported as "***"
    expect(bundle.items.find((i) => i.name === 'current')!.redacted).toEqual(['dbPassword']);
    const dir = await newDir();
    const store = new ConfigPersistence({ baseDir: dir, schema: SCHEMA, migrations: STEPS });
    const dry = await store.importBundle(bundle, { onConflict: 'overwrite', dryRun: true });
    expect(dry.migrated).toEqual({ from: 0, to: 2 });
    const report = await store.importBundle(bundle, { onConflict: 'overwrite' });
    expect(report.migrated).toEqual({ from: 0, to: 2 });
    expect(report.overwritten.map((i) => i.name)).toEqual(['current']);
    expect(report.created.map((i) => i.name)).toEqual(['dev']);
    // The secret the old export hid is the one this directory has, now at its new path.
    expect(await store.loadConfig('current')).toEqual({ server: { port: 8080 }, log: { level: 'debug' }, db: { password: 'kept-secret' } });
    const dev = await store.loadProfile('dev');
    expect(dev.data).toEqual({ server: { port: 3000 } });
    expect(dev.meta).toEqual({ description: 'laptop' });
    expect(await store.schemaVersion()).toBe(2);
    expect((await store.verify()).ok).toBe(true);
    await store.close();
  });

  it('a bundle exported with its secrets brings them, migrated', async () => {
    const bundle = await oldBundle({ includeSecrets: true });
    const dir = await newDir();
    const store = new ConfigPersistence({ baseDir: dir, schema: SCHEMA, migrations: STEPS });
    await store.importBundle(bundle, { onConflict: 'overwrite' });
    expect(await store.loadConfig('current', { includeSecrets: true } as never)).toMatchObject({ db: { password: 'from-old' } });
    expect(JSON.parse(await readFile(path.join(dir, 'current.json'), 'utf8')).db.password).toBe('from-old');
    await store.close();
  });

  it('refused with nothing written: an older bundle without the steps to migrate it, a bundle from a newer directory, a step that throws', async () => {
    const dir = await newDir();
    const before = await readFile(path.join(dir, 'current.json'), 'utf8');
    const bundle = await oldBundle({ includeSecrets: true });

    const without = new ConfigPersistence({ baseDir: dir, schema: SCHEMA });
    const missing = await rejection(without.importBundle(bundle, { onConflict: 'overwrite' }));
    expect(missing.code).toBe('E_CONFLICT');
    expect(missing.message).toMatch(/schema version 0 and must be brought to 2, but no migrations were given.*--migrations/);
    await without.close();

    const partial = new ConfigPersistence({ baseDir: dir, schema: SCHEMA, migrations: STEPS.slice(1) });
    const gap = await rejection(partial.importBundle(bundle, { onConflict: 'overwrite' }));
    expect(gap.code).toBe('E_CONFLICT');
    expect(gap.message).toContain('no step 1');
    await partial.close();

    const throwing = new ConfigPersistence({ baseDir: dir, schema: SCHEMA, migrations: [STEPS[0]!, { version: 2, up: () => { throw new Error('boom'); } }] });
    const threw = await rejection(throwing.importBundle(bundle, { onConflict: 'overwrite' }));
    expect(threw.code).toBe('E_VALIDATION');
    expect(threw.message).toContain('boom');
    await throwing.close();

    // A version 2 bundle into a directory at version 1.
    const v2 = new ConfigPersistence({ baseDir: dir, schema: SCHEMA, migrations: STEPS });
    const newer = await v2.exportBundle({ encrypt: false, includeSecrets: true });
    await v2.close();
    const oldDir = await tempDir('cp-mb-v1-');
    const v1 = new ConfigPersistence({ baseDir: oldDir, migrations: STEPS.slice(0, 1) });
    expect(await v1.schemaVersion()).toBe(1);
    const tooNew = await rejection(v1.importBundle(newer, { onConflict: 'overwrite' }));
    expect(tooNew.code).toBe('E_CONFLICT');
    expect(tooNew.message).toContain('exported from a directory at schema version 2');
    expect((await v1.listConfigs()).length).toBe(0);
    await v1.close();

    expect(await readFile(path.join(dir, 'current.json'), 'utf8')).toBe(before);
  });

  it('the CLI imports an older bundle with --migrations, and says why without it', async () => {
    const bundle = await oldBundle({ includeSecrets: true });
    const dir = await newDir();
    const ws = path.dirname(dir);
    const bundleFile = path.join(ws, `old-${path.basename(dir)}.json`);
    await writeFile(bundleFile, JSON.stringify(bundle));
    const schemaDir = path.join(ws, `schemas-${path.basename(dir)}`);
    await mkdir(schemaDir);
    await writeFile(path.join(schemaDir, 'config.schema.json'), JSON.stringify(SCHEMA));
    const steps = path.join(ws, `steps-${path.basename(dir)}.mjs`);
    await writeFile(
      steps,
      `export default [
        { version: 1, up: (doc) => { if (doc.port === undefined) return doc; const { port, ...rest } = doc; return { ...rest, server: { port: Number(port) } }; } },
        { version: 2, up: (doc) => { const { verbose, dbPassword, ...rest } = doc; return { ...rest, ...(verbose !== undefined ? { log: { level: verbose ? 'debug' : 'info' } } : {}), ...(dbPassword !== undefined ? { db: { password: dbPassword } } : {}) }; } },
      ];\n`,
    );
    const refused = await cli(ws, ['--dir', dir, '--schema-dir', schemaDir, 'import', bundleFile, '--on-conflict', 'overwrite', '--yes']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('--migrations');
    const done = await cli(ws, ['--dir', dir, '--schema-dir', schemaDir, 'import', bundleFile, '--on-conflict', 'overwrite', '--yes', '--migrations', steps]);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toContain('migrated from schema version 0 to 2');
    expect(JSON.parse(await readFile(path.join(dir, 'current.json'), 'utf8'))).toEqual({ server: { port: 8080 }, log: { level: 'debug' }, db: { password: 'from-old' } });
  });
});
