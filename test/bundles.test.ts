/**
 * Bundles: export (envelope, checksums, durable file), import with every onConflict mode, dry runs
 * and failures that leave the directory byte-identical (tampering, an invalid last item, hostile
 * names, a parent that would break its child). Real files in temp directories.
 */
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalJson, ConfigPersistence } from '../src/index.js';
import type { Bundle, BundleItem } from '../src/index.js';
import { tempDir } from './helpers/tmp.js';
import { MemoryStorage, MemoryVolume } from '../src/storage/index.js';

const schema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    api: {
      type: 'object',
      properties: { host: { type: 'string' }, port: { type: 'integer', minimum: 1, maximum: 65535 } },
      additionalProperties: false,
    },
    // At most two flags: a parent and a child can each be valid while their merge is not.
    features: { type: 'object', additionalProperties: { type: 'boolean' }, maxProperties: 2 },
  },
  additionalProperties: false,
};

const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

async function open(): Promise<{ dir: string; cp: ConfigPersistence }> {
  const dir = await tempDir();
  return { dir, cp: new ConfigPersistence({ baseDir: dir, schema, defaultFormat: 'yaml' }) };
}

/** Every file under `dir` (relative path → content), lock files aside. */
async function tree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await readdir(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.name === '.locks') continue; // lock files come and go with every call
      if (entry.isDirectory()) await walk(child);
      else out.set(child, (await readFile(path.join(dir, child))).toString('base64'));
    }
  };
  await walk('');
  return out;
}

/** A source directory with a commented current.yaml, a parent and a child profile. */
async function source(): Promise<{ dir: string; cp: ConfigPersistence }> {
  const made = await open();
  await writeFile(path.join(made.dir, 'current.yaml'), '# shop settings\nname: shop\napi:\n  port: 8080 # public port\n');
  await made.cp.saveProfile('base', { api: { host: 'localhost' } }, { description: 'shared' });
  await made.cp.saveProfile('dev', { features: { beta: true } }, { extends: 'base' });
  return made;
}

/** Re-seals a bundle after an edit, as a careful forger (or a bug) would: item sums and envelope. */
function reseal(bundle: Bundle): Bundle {
  const items = bundle.items.map((item) => ({ ...item, sha256: sha(canonicalJson(item.data)) }));
  const { checksum: _old, ...body } = { ...bundle, items, itemCount: items.length };
  return { ...body, checksum: sha(canonicalJson(body)) } as Bundle;
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
  return 'resolved';
}

describe('export', () => {
  it('builds an envelope with format, versions, date, count, items with checksums, and a checksum over the whole', async () => {
    const { cp } = await source();
    const bundle = await cp.exportBundle();
    const pkg = createRequire(import.meta.url)('../package.json') as { version: string };
    expect(bundle).toMatchObject({ format: 'config-persistence-bundle', version: 1, tool: { name: 'config-persistence', version: pkg.version }, itemCount: 3 });
    expect(Date.parse(bundle.exportedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(bundle.items.map((i) => [i.kind, i.name, i.format])).toEqual([
      ['config', 'current', 'yaml'],
      ['profile', 'base', 'yaml'],
      ['profile', 'dev', 'yaml'],
    ]);
    const dev = bundle.items.find((i) => i.name === 'dev')!;
    expect(dev.data).toEqual({ $profile: { extends: 'base' }, features: { beta: true } });
    for (const item of bundle.items) expect(item.sha256).toBe(sha(canonicalJson(item.data)));
    const { checksum, ...body } = bundle;
    expect(checksum).toBe(sha(canonicalJson(body)));
    // Canonical: key order does not matter.
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
    await cp.close();
  });

  it('exports only what the selection names', async () => {
    const { cp } = await source();
    expect((await cp.exportBundle({ profiles: ['dev'] })).items.map((i) => i.name)).toEqual(['dev']);
    expect((await cp.exportBundle({ configs: true })).items.map((i) => i.name)).toEqual(['current']);
    expect((await cp.exportBundle({ configs: ['current'], profiles: true })).itemCount).toBe(3);
    expect(await codeOf(cp.exportBundle({ profiles: ['nope'] }))).toBe('E_NOT_FOUND');
    expect(await codeOf(cp.exportBundle({ profiles: ['../x'] }))).toBe('E_INVALID_NAME');
    await cp.close();
  });

  it('writes one durable JSON file outside the base directory, readable only by its owner', async () => {
    const { cp } = await source();
    const out = path.join(await tempDir(), 'shop.bundle.json');
    const result = await cp.writeBundle(out);
    expect(result).toMatchObject({ path: out, itemCount: 3 });
    const written = JSON.parse(await readFile(out, 'utf8')) as Bundle;
    expect(written.checksum).toBe(result.checksum);
    expect((await stat(out)).size).toBe(result.size);
    expect((await stat(out)).mode & 0o777).toBe(0o600);
    expect((await readdir(path.dirname(out))).filter((n) => n.endsWith('.cp-tmp'))).toEqual([]);
    await cp.close();
  });
});

describe('import', () => {
  it('round-trips into an empty directory: files, profile metadata and inheritance', async () => {
    const src = await source();
    const out = path.join(await tempDir(), 'b.json');
    await src.cp.writeBundle(out);
    const dst = await open();
    const report = await dst.cp.importBundle(out);
    expect(report.created.map((e) => e.file)).toEqual(['current.yaml', 'profiles/base.yaml', 'profiles/dev.yaml']);
    expect(report).toMatchObject({ dryRun: false, renamed: [], overwritten: [], skipped: [] });
    expect(await dst.cp.loadConfig()).toEqual({ name: 'shop', api: { port: 8080 } });
    expect(await dst.cp.loadProfile('dev')).toMatchObject({ data: { api: { host: 'localhost' }, features: { beta: true } }, meta: { extends: 'base' } });
    expect((await dst.cp.history())[0]).toMatchObject({ operation: 'import' });
    expect((await dst.cp.verify()).ok).toBe(true);
    // A bundle re-indented by an editor still verifies (checksums are over canonical JSON).
    await writeFile(out, JSON.stringify(JSON.parse(await readFile(out, 'utf8')), null, 7));
    expect((await (await open()).cp.importBundle(out)).created).toHaveLength(3);
    await src.cp.close();
    await dst.cp.close();
  });

  describe('a tampered bundle is refused with E_CHECKSUM and nothing is written', () => {
    const cases: Array<[string, (b: Bundle) => Bundle]> = [
      ['data changed', (b) => ({ ...b, items: b.items.map((i, n) => (n === 0 ? { ...i, data: { name: 'evil' } } : i)) })],
      ['data and item checksum changed', (b) => {
        const items = b.items.map((i, n) => (n === 0 ? { ...i, data: { name: 'evil' }, sha256: sha(canonicalJson({ name: 'evil' })) } : i));
        return { ...b, items };
      }],
      ['item renamed', (b) => ({ ...b, items: b.items.map((i, n) => (n === 0 ? { ...i, name: 'other' } : i)) })],
      ['item count changed', (b) => ({ ...b, itemCount: 2 })],
      ['export date changed', (b) => ({ ...b, exportedAt: '2000-01-01T00:00:00.000Z' })],
      ['checksum changed', (b) => ({ ...b, checksum: sha('something else') })],
      ['item dropped', (b) => ({ ...b, items: b.items.slice(1) })],
    ];
    for (const [what, tamper] of cases) {
      it(what, async () => {
        const src = await source();
        const bundle = await src.cp.exportBundle();
        const dst = await source();
        const before = await tree(dst.dir);
        const file = path.join(await tempDir(), 'b.json');
        await writeFile(file, JSON.stringify(tamper(structuredClone(bundle))));
        for (const mode of ['skip', 'rename', 'overwrite'] as const) {
          expect(await codeOf(dst.cp.importBundle(file, { onConflict: mode }))).toBe('E_CHECKSUM');
        }
        expect(await codeOf(dst.cp.importBundle(tamper(structuredClone(bundle)), { onConflict: 'overwrite', dryRun: true }))).toBe('E_CHECKSUM');
        expect(await tree(dst.dir)).toEqual(before);
        await src.cp.close();
        await dst.cp.close();
      });
    }
  });

  it('refuses files that are not bundles (E_PARSE) and bundles from a newer layout', async () => {
    const { dir, cp } = await open();
    const file = path.join(await tempDir(), 'x.json');
    await writeFile(file, '{"format": "something", "items": []');
    const err = (await cp.importBundle(file).catch((e: unknown) => e)) as { code: string; line?: number };
    expect(err.code).toBe('E_PARSE');
    expect(err.line).toBe(1);
    await writeFile(file, JSON.stringify({ hello: 'world' }));
    expect(await codeOf(cp.importBundle(file))).toBe('E_PARSE');
    const newer = reseal({ ...(await cp.exportBundle()), version: 99 });
    expect(await codeOf(cp.importBundle(newer))).toBe('E_PARSE');
    expect(await codeOf(cp.importBundle(path.join(dir, 'missing.json')))).toBe('E_NOT_FOUND');
    await cp.close();
  });

  it('a bundle that fails on its last item (invalid) leaves the directory byte-identical', async () => {
    const src = await source();
    const bundle = await src.cp.exportBundle();
    const bad: BundleItem = { kind: 'config', name: 'zzz-last', format: 'json', data: { api: { port: 70000 } }, sha256: '' };
    const sealed = reseal({ ...bundle, items: [...bundle.items, bad] });
    for (const mode of ['skip', 'rename', 'overwrite'] as const) {
      const dst = await open();
      await dst.cp.saveConfig({ name: 'mine' });
      await dst.cp.saveProfile('base', { api: { host: 'remote' } });
      const before = await tree(dst.dir);
      const err = (await dst.cp.importBundle(sealed, { onConflict: mode }).catch((e: unknown) => e)) as { code: string; issues: unknown[]; message: string };
      expect(err.code).toBe('E_VALIDATION');
      expect(err.message).toContain('zzz-last');
      expect(err.issues).toMatchObject([{ path: 'api.port', message: 'must be <= 65535', value: 70000 }]);
      expect(await tree(dst.dir)).toEqual(before);
      await dst.cp.close();
    }
    await src.cp.close();
  });

  it('an invalid profile (resolved over its parent from the bundle) fails the whole import', async () => {
    const { dir, cp } = await open();
    const bundle = reseal({
      ...(await cp.exportBundle()),
      items: [
        { kind: 'profile', name: 'parent', format: 'yaml', data: { api: { port: 'eighty' } }, sha256: '' },
        { kind: 'profile', name: 'child', format: 'yaml', data: { $profile: { extends: 'parent' }, name: 'c' }, sha256: '' },
      ],
    });
    const before = await tree(dir);
    expect(await codeOf(cp.importBundle(bundle))).toBe('E_VALIDATION');
    const orphan = reseal({ ...bundle, items: [{ kind: 'profile', name: 'orphan', format: 'yaml', data: { $profile: { extends: 'ghost' } }, sha256: '' }] });
    expect(await codeOf(cp.importBundle(orphan))).toBe('E_NOT_FOUND');
    expect(await tree(dir)).toEqual(before);
    await cp.close();
  });

  it('refuses hostile item names and formats with E_INVALID_NAME, writing nothing', async () => {
    const { dir, cp } = await open();
    const base = await cp.exportBundle();
    const hostile: Array<Partial<BundleItem>> = [
      { kind: 'config', name: '../escape' },
      { kind: 'profile', name: '../../etc/passwd' },
      { kind: 'config', name: 'a/b' },
      { kind: 'config', name: '/abs' },
      { kind: 'config', name: '.hidden' },
      { kind: 'config', name: 'nul\u0000byte' },
      { kind: 'config', name: '' },
      { kind: 'config', name: 'backups' },
      { kind: 'config', name: 'current.yaml' },
      { kind: 'profile', name: 'dev.json' },
      { kind: 'config', name: 'ok', format: '../x' },
      { kind: 'config', name: 'ok', format: 'exe' },
    ];
    const before = await tree(dir);
    for (const h of hostile) {
      const item = { kind: 'config', name: 'x', format: 'yaml', data: {}, sha256: '', ...h } as BundleItem;
      const bundle = reseal({ ...base, items: [item] });
      expect(await codeOf(cp.importBundle(bundle)), JSON.stringify(h)).toBe('E_INVALID_NAME');
      expect(await codeOf(cp.importBundle(bundle, { dryRun: true })), JSON.stringify(h)).toBe('E_INVALID_NAME');
    }
    const twice = reseal({ ...base, items: [{ kind: 'config', name: 'x', format: 'yaml', data: {}, sha256: '' }, { kind: 'config', name: 'x', format: 'json', data: {}, sha256: '' }] });
    expect(await codeOf(cp.importBundle(twice))).toBe('E_INVALID_NAME');
    expect(await tree(dir)).toEqual(before);
    await cp.close();
  });

  describe('onConflict', () => {
    /** A target with its own current.yaml (commented), profiles base and dev, and an incoming bundle. */
    async function setup(): Promise<{ dir: string; cp: ConfigPersistence; bundle: Bundle }> {
      const { dir, cp } = await open();
      await writeFile(path.join(dir, 'current.yaml'), '# mine, keep this comment\nname: target\napi:\n  port: 9000 # my port\n');
      await cp.saveProfile('base', { api: { host: 'target-host' } });
      await cp.saveProfile('dev', { name: 'target-dev' }, { extends: 'base' });
      const base = await cp.exportBundle();
      const bundle = reseal({
        ...base,
        items: [
          { kind: 'config', name: 'current', format: 'yaml', data: { name: 'incoming', api: { port: 9001 } }, sha256: '' },
          { kind: 'profile', name: 'base', format: 'yaml', data: { api: { host: 'target-host' } }, sha256: '' }, // identical
          { kind: 'profile', name: 'dev', format: 'json', data: { $profile: { extends: 'base' }, name: 'incoming-dev' }, sha256: '' },
          { kind: 'profile', name: 'qa', format: 'yaml', data: { name: 'qa' }, sha256: '' },
        ],
      });
      return { dir, cp, bundle };
    }

    it('skip: creates what is new, leaves existing files alone', async () => {
      const { dir, cp, bundle } = await setup();
      const before = await readFile(path.join(dir, 'current.yaml'), 'utf8');
      const report = await cp.importBundle(bundle, { onConflict: 'skip' });
      expect(report.created).toEqual([{ kind: 'profile', name: 'qa', file: 'profiles/qa.yaml' }]);
      expect(report.skipped).toEqual([
        { kind: 'config', name: 'current', file: 'current.yaml', reason: 'exists' },
        { kind: 'profile', name: 'base', file: 'profiles/base.yaml', reason: 'identical' },
        { kind: 'profile', name: 'dev', file: 'profiles/dev.yaml', reason: 'exists' },
      ]);
      expect(report.renamed).toEqual([]);
      expect(report.overwritten).toEqual([]);
      expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toBe(before);
      expect(report.snapshot).toBeDefined();
      await cp.close();
    });

    it('rename: name-2, then name-3 when name-2 is taken', async () => {
      const { dir, cp, bundle } = await setup();
      await cp.saveProfile('dev-2', { name: 'already here' });
      const report = await cp.importBundle(bundle, { onConflict: 'rename' });
      expect(report.renamed).toEqual([
        { kind: 'config', name: 'current-2', file: 'current-2.yaml', originalName: 'current' },
        { kind: 'profile', name: 'dev-3', file: 'profiles/dev-3.json', originalName: 'dev' },
      ]);
      expect(report.created.map((e) => e.name)).toEqual(['qa']);
      expect(report.skipped.map((e) => [e.name, e.reason])).toEqual([['base', 'identical']]);
      expect(await cp.loadConfig('current-2')).toEqual({ name: 'incoming', api: { port: 9001 } });
      expect((await cp.loadProfile('dev-3')).data).toEqual({ api: { host: 'target-host' }, name: 'incoming-dev' });
      expect((await cp.loadProfile('dev-2')).data).toEqual({ name: 'already here' });
      expect(await readFile(path.join(dir, 'current.yaml'), 'utf8')).toContain('# mine, keep this comment');
      await cp.close();
    });

    it('rename carries the bundle\'s own extends links: its staging extends its production, now production-2', async () => {
      const source = await tempDir();
      const from = new ConfigPersistence({ baseDir: source, schemaDir: source });
      await from.saveProfile('production', { api: { host: 'bundle-prod' } });
      await from.saveProfile('staging', { name: 'bundle-staging' }, { extends: 'production' });
      await from.saveProfile('qa', { name: 'bundle-qa' }, { extends: ['production', 'staging'] });
      const bundle = await from.exportBundle({ profiles: true });
      await from.close();
      const dir = await tempDir();
      const cp = new ConfigPersistence({ baseDir: dir, schemaDir: dir });
      await cp.saveProfile('production', { api: { host: 'local-prod' } });
      await cp.saveProfile('staging', { name: 'local-staging' });
      const report = await cp.importBundle(bundle, { onConflict: 'rename' });
      expect(report.renamed.map((e) => [e.originalName, e.name])).toEqual([
        ['production', 'production-2'],
        ['staging', 'staging-2'],
      ]);
      expect((await cp.loadProfile('staging-2')).meta.extends).toEqual('production-2');
      expect((await cp.loadProfile('staging-2')).data).toEqual({ api: { host: 'bundle-prod' }, name: 'bundle-staging' });
      expect((await cp.loadProfile('qa')).meta.extends).toEqual(['production-2', 'staging-2']);
      // The local profiles are untouched.
      expect((await cp.loadProfile('staging')).data).toEqual({ name: 'local-staging' });
      expect((await cp.loadProfile('production')).data).toEqual({ api: { host: 'local-prod' } });
      await cp.close();
    });

    it('overwrite: backed up, versioned, layout kept, after a pre-import snapshot', async () => {
      const { dir, cp, bundle } = await setup();
      const report = await cp.importBundle(bundle, { onConflict: 'overwrite', reason: 'sync from staging' });
      expect(report.overwritten.map((e) => e.file)).toEqual(['current.yaml', 'profiles/dev.yaml']);
      expect(report.created.map((e) => e.file)).toEqual(['profiles/qa.yaml']);
      const text = await readFile(path.join(dir, 'current.yaml'), 'utf8');
      expect(text).toContain('# mine, keep this comment');
      expect(text).toContain('port: 9001 # my port');
      expect(await cp.loadConfig()).toEqual({ name: 'incoming', api: { port: 9001 } });
      // The overwritten content is in a backup and in history.
      const backups = await cp.listBackups();
      const currentBackup = backups.find((b) => b.id === report.overwritten[0]!.backup)!;
      expect(currentBackup).toMatchObject({ file: 'current.yaml', trigger: 'overwrite' });
      expect(await readFile(path.join(dir, 'backups', currentBackup.id), 'utf8')).toContain('name: target');
      const snapshot = backups.find((b) => b.id === report.snapshot)!;
      expect(snapshot).toMatchObject({ kind: 'snapshot', trigger: 'pre-import' });
      // It holds what the import writes (profiles/qa.yaml did not exist: in scope, not in the snapshot).
      expect(snapshot.files).toEqual(['current.yaml', 'profiles/dev.yaml']);
      const history = await cp.history();
      expect(history[0]).toMatchObject({ operation: 'import', reason: 'sync from staging' });
      expect((await cp.getVersion(undefined, history[1]!.version)) as unknown).toEqual({ name: 'target', api: { port: 9000 } });
      // The snapshot brings the directory back as it was before the import.
      await cp.restoreBackup(snapshot.id);
      expect(await cp.loadConfig()).toEqual({ name: 'target', api: { port: 9000 } });
      expect(await cp.profileExists('qa')).toBe(false);
      expect((await cp.verify()).ok).toBe(true);
      await cp.close();
    });

    for (const mode of ['skip', 'rename', 'overwrite'] as const) {
      it(`dry run (${mode}) returns the same plan and writes nothing`, async () => {
        const a = await setup();
        const before = await tree(a.dir);
        const plan = await a.cp.importBundle(a.bundle, { onConflict: mode, dryRun: true });
        expect(plan.dryRun).toBe(true);
        expect(plan.snapshot).toBeUndefined();
        expect(await tree(a.dir)).toEqual(before);
        const real = await a.cp.importBundle(a.bundle, { onConflict: mode });
        const strip = (r: typeof real) => ({
          created: r.created,
          renamed: r.renamed,
          skipped: r.skipped,
          overwritten: r.overwritten.map(({ backup: _b, ...rest }) => rest),
        });
        expect(strip(plan)).toEqual(strip(real));
        await a.cp.close();
      });
    }

    it('an overwrite that would break an existing child profile is refused, nothing written', async () => {
      const { dir, cp } = await open();
      await cp.saveProfile('base', { features: { a: true } });
      await cp.saveProfile('child', { features: { c: true } }, { extends: 'base' });
      // Valid on its own (two flags), but the child would inherit three.
      const bundle = reseal({
        ...(await cp.exportBundle()),
        items: [{ kind: 'profile', name: 'base', format: 'yaml', data: { features: { a: true, b: true } }, sha256: '' }],
      });
      const before = await tree(dir);
      const err = (await cp.importBundle(bundle, { onConflict: 'overwrite' }).catch((e: unknown) => e)) as { code: string; message: string; issues: unknown[] };
      expect(err.code).toBe('E_VALIDATION');
      expect(err.message).toMatch(/would break profile "child"/);
      expect(err.issues).toMatchObject([{ path: 'features', keyword: 'maxProperties' }]);
      expect(await tree(dir)).toEqual(before);
      // The same parent with a child that stays valid imports fine.
      await cp.saveProfile('child', { name: 'c' }, { extends: 'base' });
      expect((await cp.importBundle(bundle, { onConflict: 'overwrite' })).overwritten.map((e) => e.name)).toEqual(['base']);
      await cp.close();
    });
  });
});

describe('a failed import', () => {
  it('leaves no pre-import snapshot and drops no older one: the snapshot is part of the import commit', async () => {
    const volume = new MemoryVolume();
    const seed = new ConfigPersistence({ storage: new MemoryStorage({ volume }), maxBackups: 1, schema: {} });
    await seed.saveConfig({ port: 1 }, 'current.json');
    const older = await seed.createSnapshot();
    const source = new ConfigPersistence({ storage: new MemoryStorage(), schema: {} });
    await source.saveConfig({ port: 2 }, 'current.json');
    await source.saveConfig({ name: 'x' }, 'extra.json');
    const bundle = await source.exportBundle({ encrypt: false });
    await Promise.all([seed.close(), source.close()]);

    // The disk fails on the write of extra.json's content: the import's own change.
    const failing = new MemoryStorage({ volume, fault: (op) => op.phase === 'changes' && op.key === 'extra.json' });
    const store = new ConfigPersistence({ storage: failing, maxBackups: 1, schema: {} });
    await expect(store.importBundle(bundle, { onConflict: 'overwrite' })).rejects.toMatchObject({ code: 'E_IO' });
    const snapshots = (await store.listBackups()).filter((b) => b.kind === 'snapshot');
    expect(snapshots.map((b) => b.id)).toEqual([older.id]); // no pre-import one, the older one kept (maxBackups: 1)
    expect(await store.loadConfig('current.json')).toEqual({ port: 1 });
    expect(await store.listConfigs()).toEqual(['current.json']);
    await store.close();

    // The same import on a healthy disk: one commit, its snapshot named in the report and the audit line.
    const healthy = new ConfigPersistence({ storage: new MemoryStorage({ volume }), maxBackups: 1, schema: {} });
    const report = await healthy.importBundle(bundle, { onConflict: 'overwrite' });
    expect(report.snapshot).toBeDefined();
    const kept = (await healthy.listBackups()).filter((b) => b.kind === 'snapshot');
    expect(kept.map((b) => b.id)).toEqual([report.snapshot]);
    expect(kept[0]!.trigger).toBe('pre-import');
    await healthy.restoreBackup(report.snapshot!);
    expect(await healthy.listConfigs()).toEqual(['current.json']);
    expect(await healthy.loadConfig('current.json')).toEqual({ port: 1 });
    await healthy.close();
  });
});
