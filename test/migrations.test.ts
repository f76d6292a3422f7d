/**
 * Migrations: a chain of steps over every config and profile, recorded as the directory's version
 * in the settings file, applied in one all-or-nothing commit (a history version `migrate to N`, a
 * backup of each file), refused when a step throws or its result is invalid, and never run
 * backwards. Real directories; the crash case kills a real child process inside the commit.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigPersistence, Configuration, MigrationError, type Migration } from '../src/index.js';
import { LocalStorage, MemoryStorage } from '../src/storage/index.js';
import { DIST, rejection, tempDir } from './helpers/tmp.js';

const SCHEMA = {
  type: 'object',
  properties: {
    server: { type: 'object', properties: { host: { type: 'string' }, port: { type: 'integer' } }, additionalProperties: false },
    log: { type: 'object', properties: { level: { enum: ['debug', 'info', 'warn'] } }, additionalProperties: false },
    debug: { type: 'boolean' },
  },
  additionalProperties: false,
} as const;

/** Version 0 layout: `port` as a string at the top, `verbose` instead of `log.level`. */
const FILES: Record<string, string> = {
  'default.yaml': '# shipped defaults\nport: "80" # http\nverbose: false\n',
  'current.json': '{\n    "port": "8080"\n}\n',
  'profiles/base.yaml': '$profile:\n  description: shared # for all\nverbose: true\n',
  'profiles/dev.yaml': '# developer machine\n$profile:\n  extends: base\ndebug: true\n',
};

/** 1: port becomes a number; 2: it moves under server; 3: verbose becomes log.level. */
const STEPS: Migration[] = [
  { version: 1, description: 'port is a number', up: (doc) => (doc.port === undefined ? doc : { ...doc, port: Number(doc.port) }) },
  {
    version: 2,
    description: 'port moves under server',
    up: (doc) => {
      if (doc.port === undefined) return doc;
      const { port, ...rest } = doc;
      return { ...rest, server: { port } };
    },
  },
  {
    version: 3,
    description: 'verbose becomes log.level',
    up: (doc) => {
      if (doc.verbose === undefined) return undefined; // unchanged, in place
      const { verbose, ...rest } = doc;
      return { ...rest, log: { level: verbose ? 'debug' : 'info' } };
    },
  },
];

async function seed(dir: string): Promise<void> {
  await mkdir(path.join(dir, 'profiles'), { recursive: true });
  for (const [file, content] of Object.entries(FILES)) await writeFile(path.join(dir, file), content);
}

/** Every config and profile (and the settings file) as bytes on disk. */
async function contents(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const sub of ['', 'profiles']) {
    for (const name of (await readdir(path.join(dir, sub), { withFileTypes: true }).catch(() => [])).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (name.isFile() && /\.(ya?ml|json)$/.test(name.name)) out[path.posix.join(sub, name.name)] = await readFile(path.join(dir, sub, name.name), 'utf8');
    }
  }
  return out;
}

function open(dir: string, extra: Partial<ConstructorParameters<typeof ConfigPersistence>[0]> = {}) {
  return new ConfigPersistence({ baseDir: dir, schema: SCHEMA, ...extra });
}

describe('a chain of three migrations', () => {
  it('migrates every config and profile in one commit, keeping comments and $profile, and records the version', async () => {
    const dir = await tempDir();
    await seed(dir);
    const store = open(dir);
    const report = await store.migrate(STEPS);
    expect(report).toMatchObject({ from: 0, to: 3, dryRun: false });
    expect(report.steps.map((s) => s.version)).toEqual([1, 2, 3]);
    expect(report.files.filter((f) => f.changed).map((f) => f.key).sort()).toEqual(['current.json', 'default.yaml', 'profiles/base.yaml']);

    const files = await contents(dir);
    expect(JSON.parse(files['config-persistence.json']!)).toEqual({ schemaVersion: 3 });
    expect(files['default.yaml']).toContain('# shipped defaults');
    expect(await store.loadConfig('default')).toEqual({ server: { port: 80 }, log: { level: 'info' } });
    expect(files['current.json']).toBe('{\n    "server": {\n        "port": 8080\n    }\n}\n'); // four-space indentation kept
    expect(files['profiles/base.yaml']).toContain('description: shared # for all');
    expect(files['profiles/dev.yaml']).toBe(FILES['profiles/dev.yaml']); // nothing to change: not rewritten
    const dev = await store.loadProfile('dev');
    expect(dev.data).toEqual({ log: { level: 'debug' }, debug: true });
    expect(dev.meta).toEqual({ extends: 'base' });

    // One history version per changed file, with the reason; the old content backed up first.
    for (const file of ['default', 'current', 'profiles/base']) {
      const [latest] = await store.history(file);
      expect(latest).toMatchObject({ reason: 'migrate to 3', changedBy: 'system' });
    }
    const backups = await store.listBackups('default');
    expect(backups[0]!.trigger).toBe('pre-migrate');
    expect(backups[0]!.sha256).toBeDefined();
    const audit = (await readFile(path.join(dir, 'audit.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(audit.filter((a) => a.op === 'migrate')).toHaveLength(1);
    expect(audit.find((a) => a.op === 'migrate')).toMatchObject({ reason: 'migrate to 3', details: { from: 0, to: 3, steps: [1, 2, 3] } });

    // Again: nothing to do, nothing written.
    const again = await store.migrate(STEPS);
    expect(again.steps).toEqual([]);
    expect(await contents(dir)).toEqual(files);
    await store.close();
  });

  it('a step that throws in the middle leaves every file and the version as they were, naming file and step', async () => {
    const dir = await tempDir();
    await seed(dir);
    await writeFile(path.join(dir, 'config-persistence.json'), '{\n  "maxBackups": 5\n}\n');
    const before = await contents(dir);
    const failing: Migration[] = [STEPS[0]!, { version: 2, up: (doc, ctx) => { if (ctx.kind === 'profile') throw new Error('profiles are not ready'); return STEPS[1]!.up(doc, ctx); } }, STEPS[2]!];
    const store = open(dir);
    const err = await rejection(store.migrate(failing));
    expect(err).toBeInstanceOf(MigrationError);
    expect(err.code).toBe('E_VALIDATION');
    expect(err.migration).toBe(2);
    expect(err.message).toMatch(/Migration to version 2 failed on .*profiles\/base\.yaml: up\(\) threw: profiles are not ready/);
    expect(err.message).toMatch(/Nothing was changed/);
    expect(await contents(dir)).toEqual(before);
    expect(await readdir(path.join(dir, 'backups')).catch(() => [])).toEqual([]);
    expect(await store.history('default')).toEqual([]);
    await store.close();
  });

  it('a result the schema refuses leaves everything as it was and says where', async () => {
    const dir = await tempDir();
    await seed(dir);
    const before = await contents(dir);
    const wrong: Migration[] = [...STEPS.slice(0, 2), { version: 3, up: (doc) => ({ ...doc, log: { level: 'loud' } }) }];
    const store = open(dir);
    const err = await rejection(store.migrate(wrong));
    expect(err).toBeInstanceOf(MigrationError);
    expect(err.migration).toBe(3);
    expect(err.issues).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'log.level' })]));
    expect(err.message).toMatch(/does not match the schema/);
    expect(await contents(dir)).toEqual(before);

    // A profile whose resolved form only the migration makes invalid is refused as well.
    const profileWrong: Migration[] = [...STEPS, { version: 4, up: (doc, ctx) => (ctx.profile === 'base' ? { ...doc, debug: 'yes' } : doc) }];
    const err2 = await rejection(store.migrate(profileWrong));
    expect(err2.message).toMatch(/profiles\/(base|dev)\.yaml/);
    expect(err2.message).toMatch(/debug/);
    expect(await contents(dir)).toEqual(before);
    await store.close();
  });

  it('a dry run shows the changes by dot path and writes nothing', async () => {
    const dir = await tempDir();
    await seed(dir);
    const before = await contents(dir);
    const store = open(dir);
    const report = await store.migrate(STEPS, { dryRun: true });
    expect(report.dryRun).toBe(true);
    const current = report.files.find((f) => f.key === 'current.json')!;
    expect(current.changes).toEqual(expect.arrayContaining([
      { path: 'port', type: 'removed', oldValue: '8080' },
      { path: 'server', type: 'added', newValue: { port: 8080 } },
    ]));
    expect(await contents(dir)).toEqual(before);
    await store.close();
  });
});

describe('migrations given as an option', () => {
  it('run by themselves before the first operation of a store or a Configuration, once', async () => {
    const dir = await tempDir();
    await seed(dir);
    const store = open(dir, { migrations: STEPS });
    expect(await store.loadConfig()).toEqual({ server: { port: 8080 } });
    await store.close();
    const migrations = async (): Promise<number> => (await open(dir).history('current')).filter((v) => v.reason === 'migrate to 3').length;
    expect(await migrations()).toBe(1);

    const config = await Configuration.open({ baseDir: dir, schema: SCHEMA, migrations: STEPS, profile: 'dev', env: {} });
    expect(config.data).toEqual({ server: { port: 8080 }, log: { level: 'debug' }, debug: true });
    await config.close();
    const sync = Configuration.openSync({ baseDir: dir, schema: SCHEMA, migrations: STEPS, env: {} });
    expect(sync.get('server.port')).toBe(8080);
    await sync.close();
    expect(await migrations()).toBe(1); // not migrated twice
  });

  it('Configuration.open migrates an old directory; openSync refuses one it cannot migrate', async () => {
    const dir = await tempDir();
    await seed(dir);
    const err = (() => {
      try {
        Configuration.openSync({ baseDir: dir, schema: SCHEMA, migrations: STEPS, env: {} });
      } catch (e) {
        return e as Error & { code?: string };
      }
      throw new Error('openSync did not refuse');
    })();
    expect(err.code).toBe('E_CONFLICT');
    expect(err.message).toMatch(/schema version 0 .* Configuration\.open/);
    const config = await Configuration.open({ baseDir: dir, schema: SCHEMA, migrations: STEPS, env: {} });
    expect(config.get('server.port')).toBe(8080);
    await config.close();
  });

  it('a fresh directory records the newest version, so later steps run only over what is older', async () => {
    const dir = await tempDir();
    const store = open(dir, { migrations: STEPS });
    await store.saveConfig({ server: { port: 1 } });
    await store.close();
    expect(JSON.parse(await readFile(path.join(dir, 'config-persistence.json'), 'utf8'))).toEqual({ schemaVersion: 3 });
    const seen: number[] = [];
    const next = open(dir, { migrations: [...STEPS.map((s) => ({ ...s, up: (d: unknown) => { seen.push(s.version); return d; } })), { version: 4, up: (d: any) => ({ ...d, debug: false }) }] });
    expect(await next.loadConfig()).toEqual({ server: { port: 1 }, debug: false });
    expect(seen).toEqual([]); // steps 1–3 never ran again
    await next.close();
  });

  it('a directory at a newer version than the code knows is refused with E_CONFLICT, never downgraded', async () => {
    const dir = await tempDir();
    await seed(dir);
    await writeFile(path.join(dir, 'config-persistence.json'), '{ "schemaVersion": 7 }\n');
    const before = await contents(dir);
    const store = open(dir, { migrations: STEPS });
    const err = await rejection(store.saveConfig({ server: { port: 1 } }));
    expect(err.code).toBe('E_CONFLICT');
    expect(err.message).toMatch(/schema version 7 .*newer than this code's newest migration \(3\)/);
    expect((await rejection(store.loadConfig())).code).toBe('E_CONFLICT');
    expect((await rejection(store.listProfiles())).code).toBe('E_CONFLICT');
    expect((await rejection(Configuration.open({ baseDir: dir, schema: SCHEMA, migrations: STEPS, env: {} }))).code).toBe('E_CONFLICT');
    expect(() => Configuration.openSync({ baseDir: dir, schema: SCHEMA, migrations: STEPS, env: {} })).toThrow(/newer than this code/);
    expect(await contents(dir)).toEqual(before);
    await store.close();
  });

  it('two stores opening one old directory at once migrate it once', async () => {
    const dir = await tempDir();
    await seed(dir);
    const a = open(dir, { migrations: STEPS });
    const b = open(dir, { migrations: STEPS });
    const [x, y] = await Promise.all([a.loadConfig(), b.loadConfig()]);
    expect(x).toEqual({ server: { port: 8080 } });
    expect(y).toEqual(x);
    expect((await a.history('current')).filter((v) => v.reason === 'migrate to 3')).toHaveLength(1);
    await Promise.all([a.close(), b.close()]);
  });

  it('a bad migrations list is refused when the store is made', () => {
    const bad = [[{ version: 0, up: (d: unknown) => d }], [{ version: 1, up: (d: unknown) => d }, { version: 1, up: (d: unknown) => d }], [{ version: 2 }], 'nope'];
    for (const migrations of bad) {
      expect(() => open('/nonexistent-dir-for-test', { migrations: migrations as Migration[] }), JSON.stringify(migrations)).toThrow(expect.objectContaining({ code: 'E_VALIDATION' }));
    }
  });

  it('works on any backend: MemoryStorage', async () => {
    const storage = new MemoryStorage();
    const seedStore = new ConfigPersistence({ storage, schemaDir: '/nonexistent-schemas' });
    await seedStore.saveConfig({ port: '9000' } as never);
    await seedStore.close();
    const store = new ConfigPersistence({ storage, schema: SCHEMA, migrations: STEPS });
    expect(await store.loadConfig()).toEqual({ server: { port: 9000 } });
    expect((await store.history())[0]).toMatchObject({ reason: 'migrate to 3' });
    await store.close();
  });
});

describe('snapshots and migrations', () => {
  it('a snapshot from before a migration brings its version back with its files, and they are migrated again', async () => {
    const dir = await tempDir();
    await seed(dir);
    const plain = open(dir);
    const before = await plain.createSnapshot({ label: 'v0' });
    await plain.migrate(STEPS);
    const migrated = await contents(dir);
    const after = await plain.createSnapshot({ label: 'v3' });

    // Restored by a store that knows no migrations: the old layout, and the version it was at.
    await plain.restoreBackup(before.id);
    const restored = await contents(dir);
    expect(JSON.parse(restored['config-persistence.json']!)).toEqual({ schemaVersion: 0 });
    expect(restored['current.json']).toBe(FILES['current.json']);
    expect(await plain.schemaVersion()).toBe(0);
    // ... so the application's next open migrates them again.
    const app = open(dir, { migrations: STEPS });
    expect(await app.loadConfig()).toEqual({ server: { port: 8080 } });
    expect(await contents(dir)).toEqual(migrated);

    // A store with the migrations restores and migrates at once; the newer snapshot restores as it is.
    await app.restoreBackup(before.id);
    expect(await contents(dir)).toEqual(migrated);
    expect((await app.history('current'))[0]).toMatchObject({ reason: 'migrate to 3' });
    await app.restoreBackup(after.id);
    expect(await app.schemaVersion()).toBe(3);
    await Promise.all([plain.close(), app.close()]);
  });
});

describe('a crash inside the migration commit', () => {
  it('leaves every file and the version all old or all new (kill -9 at 16 instants from the start to twice its duration)', async () => {
    const template = await tempDir();
    await seed(template);
    for (let i = 0; i < 12; i++) await writeFile(path.join(template, `extra${i}.json`), `{ "port": "${9000 + i}" }\n`);
    const old = await contents(template);
    const script = `
      import { ConfigPersistence } from ${JSON.stringify(DIST)};
      const steps = [${STEPS.map((s) => `{ version: ${s.version}, up: ${s.up.toString()} }`).join(', ')}];
      const store = new ConfigPersistence({ baseDir: process.argv[1], schemaDir: '/nonexistent-schemas' });
      await store.listProfiles();
      process.stdout.write('ready\\n');
      process.stdin.once('data', async () => {
        const t = performance.now();
        await store.migrate(steps);
        process.stdout.write('done ' + (performance.now() - t) + '\\n');
        process.exit(0);
      });
    `;
    const run = async (dir: string, killAfterMs: number | undefined): Promise<number | undefined> => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, dir], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('ready\n')) resolve();
        });
        child.on('close', () => reject(new Error(`child ended early: ${err}`)));
      });
      child.stdin.write('go\n'); // the migration starts now, the kill is timed from here
      if (killAfterMs !== undefined) setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      await closed;
      const done = /done ([\d.]+)/.exec(out);
      return done ? Number(done[1]) : undefined;
    };
    const copy = async (): Promise<string> => {
      const dir = await tempDir();
      for (const [file, content] of Object.entries(old)) {
        await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
        await writeFile(path.join(dir, file), content);
      }
      return dir;
    };
    // The longest of three runs: the kills must reach past the end of a slow one too.
    let took = 0;
    let migrated: Record<string, string> = {};
    for (let t = 0; t < 3; t++) {
      const full = await copy();
      took = Math.max(took, (await run(full, undefined)) ?? 0);
      migrated = await contents(full);
    }
    expect(took).toBeGreaterThan(0);
    expect(JSON.parse(migrated['config-persistence.json']!)).toEqual({ schemaVersion: 3 });

    const outcomes = { old: 0, new: 0 };
    const rounds = 16;
    for (let k = 0; k < rounds; k++) {
      const dir = await copy();
      await run(dir, (took * 2 * k) / (rounds - 1));
      await rm(path.join(dir, '.locks'), { recursive: true, force: true });
      await new LocalStorage(dir).commit({}); // the next writer finishes an interrupted commit first
      const now = await contents(dir);
      const which = JSON.stringify(now) === JSON.stringify(old) ? 'old' : JSON.stringify(now) === JSON.stringify(migrated) ? 'new' : 'mixed';
      expect(which, `kill at ${((took * 2 * k) / (rounds - 1)).toFixed(1)} ms: ${JSON.stringify(now, null, 1)}`).not.toBe('mixed');
      outcomes[which as 'old' | 'new']++;
      // Whatever the outcome, the directory opens and is consistent with its recorded version.
      const store = open(dir, { migrations: STEPS });
      expect(await store.loadConfig()).toEqual({ server: { port: 8080 } });
      await store.close();
    }
    expect(outcomes.old).toBeGreaterThan(0);
    expect(outcomes.new).toBeGreaterThan(0);
  }, 120_000);
});
