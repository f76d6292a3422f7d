/**
 * Secrets everywhere (issue #24): a directory whose schema marks values secret — through `$ref`,
 * `allOf`, `writeOnly`, `additionalProperties` and list items — is run through EVERY CLI command,
 * and no output (stdout, stderr, text or --json), no audit line and no exported bundle holds a
 * secret value, unless --show-secrets / includeSecrets asks for it. Library diffs, validation
 * issues and bundle import of a redacted export are checked through the public API.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigPersistence, ValidationError } from '../src/index.js';
import { redact, redactAt, secretPaths } from '../src/schema/secrets.js';
import { CLI, runProcess, tempDir } from './helpers/tmp.js';

/** Every secret value of the fixture contains this marker; no output may. */
const MARK = /S3CRET/;

const schema = {
  type: 'object',
  $defs: { credential: { type: 'string', 'x-secret': true, maxLength: 40 } },
  properties: {
    db: { type: 'object', properties: { host: { type: 'string' }, password: { $ref: '#/$defs/credential' } } },
    tokens: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, value: { type: 'string', writeOnly: true } } } },
    apiKey: { allOf: [{ type: 'string' }, { 'x-secret': true }] },
    vault: { type: 'object', additionalProperties: { type: 'string', 'x-secret': true } },
    port: { type: 'number' },
  },
};

async function fixture(at?: string): Promise<string> {
  const dir = at ?? (await tempDir('cp-secrets-'));
  await mkdir(path.join(dir, 'schemas'), { recursive: true });
  await mkdir(path.join(dir, 'profiles'), { recursive: true });
  await writeFile(path.join(dir, 'schemas', 'config.schema.json'), JSON.stringify(schema));
  await writeFile(path.join(dir, 'default.yaml'), 'db:\n  host: db.local\n  password: S3CRET-default\nport: 80\n');
  await writeFile(path.join(dir, 'profiles', 'base.yaml'), 'apiKey: S3CRET-base\nvault:\n  stripe: S3CRET-vault\n');
  await writeFile(path.join(dir, 'profiles', 'prod.yaml'), '$profile:\n  extends: base\ntokens:\n  - name: ci\n    value: S3CRET-token\n');
  await writeFile(path.join(dir, 'current.yaml'), 'db:\n  password: S3CRET-current-1\n');
  return dir;
}

function cli(dir: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return runProcess(process.execPath, [CLI, '--dir', dir, '--schema-dir', path.join(dir, 'schemas'), ...args], { cwd: dir, env: { NO_COLOR: '1', ...env }, timeoutMs: 60_000 });
}

describe('the CLI never prints a secret', () => {
  let dir: string;
  const outputs: Array<{ args: string[]; text: string; code: number | null }> = [];
  const run = async (...args: string[]) => {
    const result = await cli(dir, args);
    outputs.push({ args, text: result.stdout + result.stderr, code: result.code });
    return result;
  };

  beforeAll(async () => {
    // Not tempDir(): its afterEach would remove the directory after the first test of the group.
    dir = await fixture(await mkdtemp(path.join(os.tmpdir(), 'cp-secrets-')));
    await run('init');
    await run('profile', 'use', 'prod');
    // Each variant with and without --json: the two renderings are separate code paths.
    for (const json of [[], ['--json']]) {
      await run(...json, 'status');
      await run(...json, 'get', 'db');
      await run(...json, 'get', 'db.password', '--explain');
      await run(...json, 'get', 'tokens');
      await run(...json, 'get', 'vault');
      await run(...json, 'validate');
      await run(...json, 'profile', 'list');
      await run(...json, 'profile', 'show', 'prod');
      await run(...json, 'profile', 'show', 'base', '--own');
      await run(...json, 'profile', 'diff', 'base', 'prod');
      await run(...json, 'set', 'db.password', `S3CRET-set${json.length}`, '--reason', 'rotate');
      await run(...json, 'set', 'port', String(8000 + json.length));
      await run(...json, 'history', 'current');
      await run(...json, 'diff', 'current', '1');
      await run(...json, 'diff', 'current', '1', '2');
      await run(...json, 'backup', 'list');
      await run(...json, 'backup', 'create');
      await run(...json, 'backup', 'create', '--snapshot');
      await run(...json, 'stats');
      await run(...json, 'verify');
      await run(...json, 'repair', '--dry-run');
      await run(...json, 'export', path.join(dir, `out${json.length}.bundle.json`));
      await run(...json, 'import', path.join(dir, `out${json.length}.bundle.json`), '--on-conflict', 'overwrite', '--dry-run');
      await run(...json, 'import', path.join(dir, `out${json.length}.bundle.json`), '--on-conflict', 'overwrite', '--yes');
      await run(...json, 'import', path.join(dir, `out${json.length}.bundle.json`), '--on-conflict', 'rename');
      await run(...json, 'profile', 'save', `copy${json.length}`);
      await run(...json, 'rollback', 'current', '1');
      await run(...json, 'repair');
      // A migration that rewrites the objects holding secrets: its diff is printed.
      const steps = path.join(dir, `migrations${json.length}.mjs`);
      await writeFile(steps, `export default [${[1, 2].slice(0, json.length + 1).map((v) => `{ version: ${v}, up: (doc) => doc.db ? { ...doc, db: { ...doc.db, host: 'db-v${v}.local', password: doc.db.password } } : doc }`).join(', ')}];\n`);
      await run(...json, 'migrate', '--migrations', steps, '--dry-run');
      await run(...json, 'migrate', '--migrations', steps, '--yes');
      await run(...json, 'migrate');
    }
    await run('export', '-');
    await run('backup', 'prune', '--keep', '50');
    const backups = JSON.parse((await cli(dir, ['--json', 'backup', 'list'])).stdout) as { backups?: Array<{ id: string }> } | Array<{ id: string }>;
    const list = Array.isArray(backups) ? backups : (backups.backups ?? []);
    await run('backup', 'restore', list[list.length - 1]!.id, '--yes');
    await run('profile', 'delete', 'copy0', '--yes');
    await run('status', '--help');
  }, 300_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('prints no secret in any command, text or --json', () => {
    expect(outputs.length).toBeGreaterThan(60);
    const leaks = outputs.filter((o) => MARK.test(o.text)).map((o) => `${o.args.join(' ')}:\n${o.text.split('\n').filter((l) => MARK.test(l)).join('\n')}`);
    expect(leaks).toEqual([]);
  });

  it('the commands did their work (not just failed quietly)', () => {
    const failed = outputs.filter((o) => o.code !== 0 && !(o.args.includes('import') && o.args.includes('rename'))).map((o) => `${o.args.join(' ')} → ${o.code}: ${o.text}`);
    expect(failed).toEqual([]);
    const shown = outputs.filter((o) => /\*\*\*/.test(o.text)).map((o) => o.args.join(' '));
    for (const cmd of ['status', '--json status', 'get db', 'profile show prod', 'profile diff base prod', 'diff current 1', 'export -']) expect(shown).toContain(cmd);
  });

  it('keeps secrets out of the audit log and the bundles, in the files themselves', async () => {
    const audit = await readFile(path.join(dir, 'audit.log'), 'utf8');
    expect(audit.split('\n').length).toBeGreaterThan(10);
    expect(audit).not.toMatch(MARK);
    for (const n of [0, 1]) {
      const bundle = await readFile(path.join(dir, `out${n}.bundle.json`), 'utf8');
      expect(bundle).not.toMatch(MARK);
      expect(bundle).toMatch(/\*\*\*/);
    }
  });

  it('importing a redacted bundle keeps the secrets the directory has', async () => {
    // The overwrite imports above ran on the directory that holds the real values.
    const current = await readFile(path.join(dir, 'current.yaml'), 'utf8');
    expect(current).toMatch(/S3CRET-/);
    expect(current).not.toMatch(/\*\*\*/);
    for (const name of ['base', 'prod']) expect(await readFile(path.join(dir, 'profiles', `${name}.yaml`), 'utf8')).not.toMatch(/\*\*\*/);
  });

  it('shows secrets with --show-secrets', async () => {
    for (const args of [['get', 'db.password'], ['status'], ['profile', 'show', 'prod'], ['diff', 'current', '1', '2'], ['export', '-']]) {
      const out = await cli(dir, ['--show-secrets', ...args]);
      expect(out.code, out.stderr).toBe(0);
      expect(out.stdout, args.join(' ')).toMatch(MARK);
    }
  });

  it('watch prints a changed secret as ***', async () => {
    const child = spawn(process.execPath, [CLI, '--dir', dir, '--schema-dir', path.join(dir, 'schemas'), 'watch'], { env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const armed = new Promise<void>((resolve) => child.stderr.on('data', (d: Buffer) => /watching/.test(d.toString()) && resolve()));
    try {
      await armed;
      await writeFile(path.join(dir, 'current.yaml'), 'db:\n  password: S3CRET-watched\nport: 9\n');
      await new Promise<void>((resolve) => {
        const check = () => (/port/.test(out) ? resolve() : setTimeout(check, 50));
        check();
      });
      expect(out).toMatch(/db\.password: \*\*\* → \*\*\*/);
      expect(out).not.toMatch(MARK);
    } finally {
      child.kill('SIGINT');
    }
  }, 60_000);
});

describe('an invalid secret is reported without its value', () => {
  it('validate, status and get name the path, never the value', async () => {
    const dir = await fixture();
    await writeFile(path.join(dir, 'current.yaml'), `db:\n  password: S3CRET-${'x'.repeat(50)}\n`);
    for (const args of [['validate'], ['--json', 'validate'], ['status'], ['--json', 'status'], ['get', 'db'], ['--json', 'get', 'db'], ['verify'], ['--json', 'verify']]) {
      const out = await cli(dir, args);
      expect(out.code, args.join(' ')).toBe(1);
      expect(out.stdout + out.stderr, args.join(' ')).toMatch(/db\.password/);
      expect(out.stdout + out.stderr, args.join(' ')).not.toMatch(MARK);
    }
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: path.join(dir, 'schemas') });
    const err = await store.loadConfig().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues[0]).toMatchObject({ path: 'db.password', value: '***' });
    await store.close();
  });
});

describe('library', () => {
  it('diff redacts both sides unless includeSecrets', async () => {
    const dir = await fixture();
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: path.join(dir, 'schemas') });
    await store.saveConfig({ db: { password: 'S3CRET-a' }, port: 1 });
    await store.saveConfig({ db: { password: 'S3CRET-b' }, port: 2, vault: { k: 'S3CRET-v' } });
    const [newest, previous] = await store.history();
    const changes = await store.diff(undefined, previous!.version, newest!.version);
    expect(JSON.stringify(changes)).not.toMatch(MARK);
    expect(changes).toContainEqual({ path: 'db.password', type: 'changed', oldValue: '***', newValue: '***' });
    expect(changes).toContainEqual({ path: 'port', type: 'changed', oldValue: 1, newValue: 2 });
    expect(JSON.stringify(await store.diff(undefined, previous!.version, newest!.version, { includeSecrets: true }))).toMatch(/S3CRET-a/);
    await store.close();
  });

  it('exportBundle redacts, records what it hid, and its checksums cover the redacted data', async () => {
    const dir = await fixture();
    const store = new ConfigPersistence({ baseDir: dir, schemaDir: path.join(dir, 'schemas') });
    const bundle = await store.exportBundle();
    expect(JSON.stringify(bundle)).not.toMatch(MARK);
    const current = bundle.items.find((i) => i.name === 'current')!;
    expect(current.redacted).toEqual(['db.password']);
    const full = await store.exportBundle({ includeSecrets: true });
    expect(JSON.stringify(full)).toMatch(/S3CRET-current-1/);
    expect(full.items.every((i) => i.redacted === undefined)).toBe(true);
    // The redacted bundle verifies (its checksums are of what it holds) and imports onto itself.
    await expect(store.importBundle(bundle, { onConflict: 'overwrite' })).resolves.toMatchObject({ overwritten: [] });
    await store.close();
  });

  it('a redacted secret with no value to keep is refused, and nothing is written', async () => {
    const dir = await fixture();
    const source = new ConfigPersistence({ baseDir: dir, schemaDir: path.join(dir, 'schemas') });
    const bundle = await source.exportBundle({ configs: ['current'] });
    await source.close();
    const other = await tempDir();
    const target = new ConfigPersistence({ baseDir: other, schemaDir: path.join(dir, 'schemas') });
    const err = await target.importBundle(bundle).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_VALIDATION' });
    expect(String((err as Error).message)).toMatch(/db\.password.*includeSecrets|--show-secrets/s);
    expect(await target.listBackups()).toEqual([]);
    await expect(target.loadConfig()).rejects.toMatchObject({ code: 'E_NOT_FOUND' });
    await target.close();
  });

  it('finds secrets through $ref, allOf, anyOf, prefixItems and if/then', () => {
    const s = {
      $defs: { pw: { 'x-secret': true } },
      type: 'object',
      properties: {
        a: { $ref: '#/$defs/pw' },
        b: { anyOf: [{ type: 'number' }, { type: 'string', writeOnly: true }] },
        c: { type: 'array', prefixItems: [{ type: 'string' }, { 'x-secret': true }] },
        d: { if: { type: 'object' }, then: { properties: { k: { 'x-secret': true } } } },
        e: { $ref: '#' },
      },
    };
    const doc = { a: 's1', b: 's2', c: ['open', 's3'], d: { k: 's4', open: 1 }, e: { a: 's5', z: 1 } };
    expect(redact(doc, s)).toEqual({ a: '***', b: '***', c: ['open', '***'], d: { k: '***', open: 1 }, e: { a: '***', z: 1 } });
    expect(secretPaths(doc, s)).toEqual(['a', 'b', 'c.1', 'd.k', 'e.a']);
    expect(redactAt({ k: 's4' }, s, ['d'])).toEqual({ k: '***' });
    expect(redactAt('s5', s, ['e', 'a'])).toBe('***');
  });
});
