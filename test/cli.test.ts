/**
 * End-to-end tests of the command line: the built binary (`dist/cli.js`) on copies of the bundled
 * config/ and schemas/ in temp directories. Output, `--json` shapes and exit codes for success,
 * problems found, hostile input and bad usage.
 */
import { readFile, writeFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, json, workspace } from './helpers/cli.js';

describe('CLI: usage, help and exit codes', () => {
  it('prints help with examples for the tool and every command, exit 0', async () => {
    const ws = await workspace();
    const top = await cli(ws, ['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('Usage: config-persistence');
    expect(top.stdout).toContain('Exit codes: 0 success, 1 a problem found');
    const commands = [
      ['status'], ['get'], ['set'], ['validate'],
      ['profile'], ['profile', 'list'], ['profile', 'show'], ['profile', 'save'], ['profile', 'use'], ['profile', 'delete'], ['profile', 'diff'],
      ['backup'], ['backup', 'list'], ['backup', 'create'], ['backup', 'restore'], ['backup', 'prune'],
      ['history'], ['diff'], ['rollback'], ['export'], ['import'], ['verify'], ['repair'], ['stats'], ['watch'],
    ];
    // Four at a time: 26 process starts one after another are slow on a busy machine.
    for (let i = 0; i < commands.length; i += 4) {
      const batch = commands.slice(i, i + 4);
      const results = await Promise.all(batch.map((command) => cli(ws, [...command, '--help'])));
      results.forEach((r, j) => {
        const name = batch[j]!.join(' ');
        expect(r.code, name).toBe(0);
        expect(r.stdout, name).toMatch(/Examples?:\n {2}\$ config-persistence /);
      });
    }
  });

  it('exits 2 with E_USAGE on stderr for an unknown command, an unknown option and a missing argument', async () => {
    const ws = await workspace();
    for (const args of [['frobnicate'], ['status', '--frob'], ['get'], ['set', 'server.port'], ['profile', 'show'], ['diff', 'current']]) {
      const r = await cli(ws, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/^E_USAGE: /);
      expect(r.stderr).toMatch(/\nhint: /);
      expect(r.stdout).toBe('');
    }
  });

  it('suggests the closest command for a typo', async () => {
    const ws = await workspace();
    const r = await cli(ws, ['statsu']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Did you mean .*\bstats\b/);
  });

  it('exits 2 for a command group without a subcommand and for malformed numbers and durations', async () => {
    const ws = await workspace();
    expect((await cli(ws, ['profile'])).code).toBe(2);
    expect((await cli(ws, ['backup'])).code).toBe(2);
    expect((await cli(ws, ['diff', 'current', 'one', 'two'])).code).toBe(2);
    expect((await cli(ws, ['backup', 'prune', '--max-age', '30'])).code).toBe(2);
    expect((await cli(ws, ['rollback', 'current', '-1'])).code).toBe(2);
  });

  it('without a command prints the help on stderr and exits 2', async () => {
    const ws = await workspace();
    const r = await cli(ws, []);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Usage: config-persistence');
    expect(r.stdout).toBe('');
  });

  it('prints the version', async () => {
    const ws = await workspace();
    const r = await cli(ws, ['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('CLI: status', () => {
  it('shows the active profile, every value with its source, backups and validation, without changing the directory', async () => {
    const ws = await workspace();
    const before = await snapshotDir(path.join(ws, 'config'));
    for (const readOnly of [['validate'], ['backup', 'list'], ['history', 'current'], ['profile', 'list'], ['stats'], ['get', 'server.port']]) {
      expect((await cli(ws, readOnly)).code, readOnly.join(' ')).toBe(0);
    }
    const r = await cli(ws, ['--dir', 'config', 'status']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('active profile');
    expect(r.stdout).toContain('Effective configuration');
    expect(r.stdout).toMatch(/server\.port +8080 +config\/default\.yaml:\d+:\d+/);
    expect(r.stdout).toContain('Backups (0)');
    expect(r.stdout).toMatch(/valid: 4 documents/);
    expect(r.stderr).toBe('');
    expect(await snapshotDir(path.join(ws, 'config'))).toEqual(before);
  });

  it('has no colour codes when not on a terminal, and none with NO_COLOR even when forced', async () => {
    const ws = await workspace();
    expect((await cli(ws, ['status'])).stdout).not.toContain('\u001b[');
    expect((await cli(ws, ['status'], { env: { FORCE_COLOR: '1' } })).stdout).toContain('\u001b[');
    expect((await cli(ws, ['status'], { env: { FORCE_COLOR: '1', NO_COLOR: '1' } })).stdout).not.toContain('\u001b[');
  });

  it('--json gives the profile, layers, values with sources, backups and validation', async () => {
    const ws = await workspace();
    await cli(ws, ['profile', 'use', 'production']);
    await cli(ws, ['set', 'server.port', '8443']);
    const r = await cli(ws, ['--json', 'status']);
    expect(r.code).toBe(0);
    const s = json<{
      ok: boolean;
      profile: { active: string; source: string };
      layers: Array<{ layer: string; file: string; exists: boolean }>;
      effective: { data: { server: { port: number; host: string } }; values: Array<{ path: string; value: unknown; source: { layer: string; file?: string; line?: number } }> };
      backups: { count: number; list: unknown[] };
      validation: { ok: boolean; documents: Array<{ file: string; ok: boolean }> };
    }>(r);
    expect(s.ok).toBe(true);
    expect(s.profile).toEqual({ active: 'production', source: 'persisted' });
    expect(s.layers.map((l) => l.layer)).toEqual(['default', 'profile', 'current']);
    expect(s.effective.data.server).toMatchObject({ port: 8443, host: '0.0.0.0' });
    const port = s.effective.values.find((v) => v.path === 'server.port')!;
    expect(port.source).toMatchObject({ layer: 'current', file: 'config/current.yaml' });
    const host = s.effective.values.find((v) => v.path === 'server.host')!;
    expect(host.source).toMatchObject({ layer: 'profile', file: 'config/profiles/production.yaml' });
    expect(host.source.line).toBeGreaterThan(0);
    expect(s.validation.ok).toBe(true);
    expect(s.backups.count).toBe(0);
  });

  it('exits 1 and names the file, line and column when something is invalid', async () => {
    const ws = await workspace();
    await writeFile(path.join(ws, 'config', 'current.yaml'), 'server:\n  port: 99999\n');
    const r = await cli(ws, ['status']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/config\/current\.yaml:2:\d+ +server\.port must be <= 65535/);
    expect(r.stdout).toContain('server.port must be <= 65535');
  });

  it('works on an empty directory', async () => {
    const ws = await workspace();
    const r = await cli(ws, ['--dir', 'nothing-here', '--json', 'status']);
    expect(r.code).toBe(0);
    expect(json<{ effective: { values: unknown[] } }>(r).effective.values).toEqual([]);
  });
});

describe('CLI: get and set', () => {
  it('set parses YAML scalars, saves to current.yaml and get reads the effective value', async () => {
    const ws = await workspace();
    const set = await cli(ws, ['set', 'server.port', '9090', '--reason', 'port clash']);
    expect(set.code).toBe(0);
    expect(set.stdout).toContain('server.port = 9090');
    expect(await readFile(path.join(ws, 'config', 'current.yaml'), 'utf8')).toMatch(/port: 9090\b/);
    const got = json<{ path: string; value: unknown; source: { layer: string } }>(await cli(ws, ['--json', 'get', 'server.port']));
    expect(got).toMatchObject({ path: 'server.port', value: 9090, source: { layer: 'current' } });
    await cli(ws, ['set', 'cache.enabled', 'false']);
    await cli(ws, ['set', 'app.name', '"1234"']);
    await cli(ws, ['set', 'allowedOrigins', '[https://a.example, https://b.example]']);
    const doc = json<{ value: Record<string, unknown> }>(await cli(ws, ['--json', 'get', 'cache']));
    expect(doc.value).toEqual({ enabled: false, ttlSeconds: 300 });
    expect(json<{ value: unknown }>(await cli(ws, ['--json', 'get', 'app.name'])).value).toBe('1234');
    expect(json<{ value: unknown }>(await cli(ws, ['--json', 'get', 'allowedOrigins'])).value).toEqual(['https://a.example', 'https://b.example']);
    expect((await cli(ws, ['get', 'server.port'])).stdout).toBe('9090\n');
  });

  it('set keeps the comments a human wrote in current.yaml', async () => {
    const ws = await workspace();
    const file = path.join(ws, 'config', 'current.yaml');
    await writeFile(file, '# runtime overrides, edited by ops\nserver:\n  # temporary, see ticket 42\n  port: 9000\n');
    expect((await cli(ws, ['set', 'server.port', '9001'])).code).toBe(0);
    const text = await readFile(file, 'utf8');
    expect(text).toContain('# runtime overrides, edited by ops');
    expect(text).toContain('# temporary, see ticket 42');
    expect(text).toContain('port: 9001');
    const backups = json<Array<{ file: string; trigger: string }>>(await cli(ws, ['--json', 'backup', 'list']));
    expect(backups[0]).toMatchObject({ file: 'current.yaml', trigger: 'overwrite' });
  });

  it('get follows --profile and environment variables with --env-prefix, and --explain names the source', async () => {
    const ws = await workspace();
    expect((await cli(ws, ['get', 'logging.level', '--profile', 'production'])).stdout).toBe('warn\n');
    const env = await cli(ws, ['get', 'server.port', '--env-prefix', 'SHOP', '--explain'], { env: { SHOP__SERVER__PORT: '7000' } });
    expect(env.stdout).toContain('7000');
    expect(env.stdout).toContain('SHOP__SERVER__PORT');
    const chosen = await cli(ws, ['get', 'logging.level'], { env: { CONFIG_PROFILE: 'development' } });
    expect(chosen.stdout).toBe('debug\n');
  });

  it('set refuses a value the schema rejects: exit 1, E_VALIDATION, nothing written', async () => {
    const ws = await workspace();
    const r = await cli(ws, ['set', 'server.port', 'abc']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^E_VALIDATION: /);
    expect(r.stderr).toContain('server.port');
    expect(r.stdout).toBe('');
    await expect(readFile(path.join(ws, 'config', 'current.yaml'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('get of a missing path exits 1 with E_NOT_FOUND', async () => {
    const ws = await workspace();
    const r = await cli(ws, ['get', 'server.nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^E_NOT_FOUND: /);
  });

  it('refuses prototype keys and malformed paths with E_INVALID_NAME and pollutes nothing', async () => {
    const ws = await workspace();
    for (const args of [['get', '__proto__.x'], ['get', 'constructor.prototype'], ['set', '__proto__.polluted', '1'], ['set', 'a..b', '1'], ['get', 'server.\u0001']]) {
      const r = await cli(ws, args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(/^E_INVALID_NAME: /);
    }
    await expect(readFile(path.join(ws, 'config', 'current.yaml'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('does not let escape sequences from a config file reach the terminal', async () => {
    const ws = await workspace();
    await writeFile(path.join(ws, 'config', 'current.yaml'), 'app:\n  name: "evil\\e]0;pwned\\a\\e[2J"\n');
    const r = await cli(ws, ['status']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('\u001b]0;');
    expect(r.stdout).not.toContain('\u001b[2J');
    expect(r.stdout).toContain('evil');
  });
});

describe('CLI: validate', () => {
  it('exit 0 and a JSON report when everything is valid', async () => {
    const ws = await workspace();
    const r = await cli(ws, ['--json', 'validate']);
    expect(r.code).toBe(0);
    const report = json<{ ok: boolean; schema: string; documents: Array<{ file: string; ok: boolean }> }>(r);
    expect(report.ok).toBe(true);
    expect(report.schema).toMatch(/config\.schema\.json$/);
    expect(report.documents.map((d) => d.file)).toEqual([
      'default.yaml',
      'profiles/development.yaml',
      'profiles/production.yaml',
      'effective configuration (no profile)',
    ]);
  });

  it('exit 1 listing every invalid document with positions; unparsable files are reported, not fatal', async () => {
    const ws = await workspace();
    await writeFile(path.join(ws, 'config', 'profiles', 'broken.yaml'), 'logging:\n  level: [unclosed\n');
    await writeFile(path.join(ws, 'config', 'profiles', 'loud.yaml'), 'logging:\n  level: shouting\n');
    const r = await cli(ws, ['validate']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✗ profiles\/broken\.yaml +E_PARSE/);
    expect(r.stdout).toMatch(/config\/profiles\/loud\.yaml:2:\d+ +logging\.level must be one of/);
    expect(r.stdout).toContain('✓ default.yaml');
    const report = json<{ ok: boolean; documents: Array<{ file: string; ok: boolean; code?: string; issues?: Array<{ path: string; line?: number }> }> }>(await cli(ws, ['--json', 'validate']));
    expect(report.ok).toBe(false);
    const loud = report.documents.find((d) => d.file === 'profiles/loud.yaml')!;
    expect(loud).toMatchObject({ ok: false, code: 'E_VALIDATION' });
    expect(loud.issues![0]).toMatchObject({ path: 'logging.level', line: 2 });
  });
});

describe('CLI: profiles', () => {
  it('lists, shows (resolved and own), saves from a file and from stdin, diffs and switches profiles', async () => {
    const ws = await workspace();
    const list = json<{ active: string | null; profiles: Array<{ name: string; description?: string }> }>(await cli(ws, ['--json', 'profile', 'list']));
    expect(list.active).toBeNull();
    expect(list.profiles.map((p) => p.name)).toEqual(['development', 'production']);

    await writeFile(path.join(ws, 'staging.yaml'), 'server:\n  host: staging.internal\n');
    const saved = await cli(ws, ['profile', 'save', 'staging', 'staging.yaml', '--extends', 'production', '--description', 'Staging cluster']);
    expect(saved.code).toBe(0);
    const resolved = json<{ data: { server: { host: string; port: number } }; meta: { extends: unknown } }>(await cli(ws, ['--json', 'profile', 'show', 'staging']));
    expect(resolved.data.server).toEqual({ host: 'staging.internal', port: 80, shutdownGraceSeconds: 30 });
    expect(resolved.meta.extends).toEqual(['production']);
    const own = json<{ data: unknown }>(await cli(ws, ['--json', 'profile', 'show', 'staging', '--own']));
    expect(own.data).toEqual({ server: { host: 'staging.internal' } });

    const piped = await cli(ws, ['profile', 'save', 'debug', '-', '--extends', 'development'], { input: 'logging: {level: trace}\n' });
    expect(piped.code).toBe(0);
    expect((await cli(ws, ['get', 'logging.level', '--profile', 'debug'])).stdout).toBe('trace\n');

    const diff = json<{ changes: Array<{ path: string; type: string; oldValue?: unknown; newValue?: unknown }> }>(await cli(ws, ['--json', 'profile', 'diff', 'production', 'staging']));
    expect(diff.changes).toEqual([{ path: 'server.host', type: 'changed', oldValue: '0.0.0.0', newValue: 'staging.internal' }]);
    expect((await cli(ws, ['profile', 'diff', 'production', 'staging'])).stdout).toContain('~ server.host: 0.0.0.0 → staging.internal');

    expect((await cli(ws, ['profile', 'use', 'staging'])).code).toBe(0);
    const listed = await cli(ws, ['profile', 'list']);
    expect(listed.stdout).toMatch(/^\* staging +production/m);
    expect((await cli(ws, ['get', 'server.host'])).stdout).toBe('staging.internal\n');
    expect((await cli(ws, ['profile', 'use', '--clear'])).code).toBe(0);
    expect((await cli(ws, ['get', 'server.host'])).stdout).toBe('127.0.0.1\n');
  });

  it('profile save refuses an invalid profile: exit 1, nothing written', async () => {
    const ws = await workspace();
    const r = await cli(ws, ['profile', 'save', 'bad', '-'], { input: 'server:\n  port: -1\n' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^E_VALIDATION: /);
    expect(await readdir(path.join(ws, 'config', 'profiles'))).toEqual(['development.yaml', 'production.yaml']);
  });

  it('refuses profile names that reach outside the directory', async () => {
    const ws = await workspace();
    for (const args of [['profile', 'show', '../x'], ['profile', 'show', '/etc/passwd'], ['profile', 'use', '..'], ['profile', 'delete', '../../default', '--yes'], ['profile', 'save', 'a/b', '-']]) {
      const r = await cli(ws, args, { input: 'a: 1\n' });
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(/^E_INVALID_NAME: /);
    }
    expect((await cli(ws, ['--json', 'validate'])).code).toBe(0);
  });

  it('profile delete asks for confirmation: refuses without --yes when stdin is not a terminal', async () => {
    const ws = await workspace();
    const refused = await cli(ws, ['profile', 'delete', 'development']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^E_CONFIRM: /);
    expect(refused.stderr).toContain('--yes');
    expect(await readdir(path.join(ws, 'config', 'profiles'))).toContain('development.yaml');

    const done = await cli(ws, ['profile', 'delete', 'development', '--yes']);
    expect(done.code).toBe(0);
    expect(await readdir(path.join(ws, 'config', 'profiles'))).toEqual(['production.yaml']);
    const backups = json<Array<{ file: string; trigger: string }>>(await cli(ws, ['--json', 'backup', 'list']));
    expect(backups[0]).toMatchObject({ file: 'profiles/development.yaml', trigger: 'delete' });

    const missing = await cli(ws, ['profile', 'delete', 'development', '--yes']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^E_NOT_FOUND: /);
  });
});

describe('CLI: backups, history, diff, rollback, stats', () => {
  it('lists backups with their age, creates labelled backups and snapshots, restores with --yes only, prunes', async () => {
    const ws = await workspace();
    await cli(ws, ['set', 'server.port', '9001']);
    await cli(ws, ['set', 'server.port', '9002']);
    const listed = await cli(ws, ['backup', 'list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^ID +FILE +TRIGGER +AGE +SIZE/);
    expect(listed.stdout).toMatch(/current\.\S+\.yaml +current\.yaml +overwrite +(just now|\d+ s ago) +\d+ B/);

    const created = json<{ id: string; label: string; trigger: string }>(await cli(ws, ['--json', 'backup', 'create', '--label', 'before upgrade']));
    expect(created).toMatchObject({ trigger: 'manual' });
    expect(created.id).toContain('before-upgrade');
    const snap = json<{ id: string; kind: string }>(await cli(ws, ['--json', 'backup', 'create', '--snapshot']));
    expect(snap.kind).toBe('snapshot');

    const all = json<Array<{ id: string; file: string }>>(await cli(ws, ['--json', 'backup', 'list']));
    const first = all.filter((b) => b.file === 'current.yaml').at(-1)!; // the oldest: port 9001
    const refused = await cli(ws, ['backup', 'restore', first.id]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^E_CONFIRM: /);
    expect((await cli(ws, ['get', 'server.port'])).stdout).toBe('9002\n');

    const restored = json<{ restored: { id: string }; safetyBackup?: { id: string } }>(await cli(ws, ['--json', 'backup', 'restore', first.id, '--yes']));
    expect(restored.restored.id).toBe(first.id);
    expect(restored.safetyBackup?.id).toBeTruthy();
    expect((await cli(ws, ['get', 'server.port'])).stdout).toBe('9001\n');

    const pruned = json<{ removed: Array<{ id: string; label?: string }> }>(await cli(ws, ['--json', 'backup', 'prune', '--keep', '1']));
    expect(pruned.removed.length).toBeGreaterThan(0);
    expect(pruned.removed.some((b) => b.label)).toBe(false); // labelled backups are pinned
  });

  it('every command that takes a file, profile or backup name refuses one that leaves the directory', async () => {
    const ws = await workspace();
    const before = await snapshotDir(path.join(ws, 'config'));
    const cases = [
      ['history', '../x'], ['diff', '../x', '1', '2'], ['rollback', '/etc/passwd', '1'], ['backup', 'create', '../x'],
      ['backup', 'list', '../../etc'], ['backup', 'delete', '../current.yaml', '--yes'], ['profile', 'diff', '..', 'production'],
      ['export', '-', '--profiles', '../x'], ['backup', 'create', 'ctl\u0001char'],
    ];
    const results = await Promise.all(cases.map((args) => cli(ws, args)));
    results.forEach((r, i) => {
      expect(r.code, cases[i]!.join(' ')).toBe(1);
      expect(r.stderr, cases[i]!.join(' ')).toMatch(/^E_INVALID_NAME: /);
    });
    expect(await snapshotDir(path.join(ws, 'config'))).toEqual(before);
  });

  it('restore of an unknown or hostile backup id fails cleanly', async () => {
    const ws = await workspace();
    const unknown = await cli(ws, ['backup', 'restore', 'current.20200101T000000.000Z.yaml', '--yes']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^E_NOT_FOUND: /);
    const hostile = await cli(ws, ['backup', 'restore', '../default.yaml', '--yes']);
    expect(hostile.code).toBe(1);
    expect(hostile.stderr).toMatch(/^E_(INVALID_NAME|NOT_FOUND): /);
  });

  it('history, diff and rollback of current.yaml', async () => {
    const ws = await workspace();
    await cli(ws, ['set', 'server.port', '9001', '--reason', 'first']);
    await cli(ws, ['set', 'server.port', '9002', '--reason', 'second']);
    const history = json<{ versions: Array<{ version: number; reason?: string; changedBy: string }> }>(await cli(ws, ['--json', 'history', 'current']));
    expect(history.versions.map((v) => v.version)).toEqual([2, 1]);
    expect(history.versions[0]).toMatchObject({ reason: 'second', changedBy: 'user' });
    const human = await cli(ws, ['history', 'current']);
    expect(human.stdout).toMatch(/^VERSION +WHEN +BY +OPERATION +SIZE +REASON/);

    const diff = json<{ changes: unknown[] }>(await cli(ws, ['--json', 'diff', 'current', '1', '2']));
    expect(diff.changes).toEqual([{ path: 'server.port', type: 'changed', oldValue: 9001, newValue: 9002 }]);

    const rolled = await cli(ws, ['rollback', 'current', '1', '--reason', 'bad deploy']);
    expect(rolled.code).toBe(0);
    expect((await cli(ws, ['get', 'server.port'])).stdout).toBe('9001\n');
    const after = json<{ versions: Array<{ version: number; operation?: string }> }>(await cli(ws, ['--json', 'history', 'current']));
    expect(after.versions[0]).toMatchObject({ version: 3, operation: 'rollback' });

    const missing = await cli(ws, ['rollback', 'current', '42']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^E_NOT_FOUND: /);
  });

  it('stats counts files, backups and history', async () => {
    const ws = await workspace();
    await cli(ws, ['set', 'server.port', '9001']);
    await cli(ws, ['set', 'server.port', '9002']);
    const s = json<{ configs: number; profiles: number; backups: { count: number }; history: { entries: number } }>(await cli(ws, ['--json', 'stats']));
    expect(s).toMatchObject({ configs: 2, profiles: 2, backups: { count: 1 }, history: { entries: 2 } });
    expect((await cli(ws, ['stats'])).stdout).toMatch(/newest backup +(just now|\d+ s ago)/);
  });
});

describe('CLI: export and import', () => {
  it('exports a bundle and imports it into an empty directory; --dry-run writes nothing', async () => {
    const from = await workspace();
    await cli(from, ['set', 'server.port', '9000']);
    const exported = json<{ path: string; itemCount: number; checksum: string }>(await cli(from, ['--json', 'export', 'shop.bundle.json']));
    expect(exported.itemCount).toBe(4);
    const bundleFile = path.join(from, 'shop.bundle.json');
    expect(JSON.parse(await readFile(bundleFile, 'utf8'))).toMatchObject({ format: 'config-persistence-bundle', itemCount: 4 });

    const to = await workspace();
    const toConfig = path.join(to, 'empty');
    const dry = json<{ dryRun: boolean; created: Array<{ file: string }> }>(await cli(to, ['--dir', 'empty', '--json', 'import', bundleFile, '--on-conflict', 'skip', '--dry-run']));
    expect(dry.dryRun).toBe(true);
    expect(dry.created.map((i) => i.file).sort()).toEqual(['current.yaml', 'default.yaml', 'profiles/development.yaml', 'profiles/production.yaml']);
    await expect(readdir(toConfig)).rejects.toMatchObject({ code: 'ENOENT' });

    const done = await cli(to, ['--dir', 'empty', 'import', bundleFile, '--on-conflict', 'skip']);
    expect(done.code).toBe(0);
    expect(done.stdout).toContain('4 created, 0 renamed, 0 overwritten, 0 skipped');
    expect((await cli(to, ['--dir', 'empty', 'get', 'server.port'])).stdout).toBe('9000\n');
  });

  it('export - writes the bundle to stdout and import - reads it from stdin; rename keeps both', async () => {
    const ws = await workspace();
    const out = await cli(ws, ['export', '-', '--profiles', 'production']);
    expect(out.code).toBe(0);
    const bundle = JSON.parse(out.stdout) as { items: Array<{ kind: string; name: string }> };
    expect(bundle.items.map((i) => `${i.kind}:${i.name}`)).toEqual(['profile:production']);
    await writeFile(path.join(ws, 'config', 'profiles', 'production.yaml'), 'server:\n  port: 8081\n');
    const renamed = json<{ renamed: Array<{ name: string; originalName: string }> }>(await cli(ws, ['--json', 'import', '-', '--on-conflict', 'rename'], { input: out.stdout }));
    expect(renamed.renamed).toEqual([expect.objectContaining({ originalName: 'production' })]);
    expect(renamed.renamed[0]!.name).not.toBe('production');
  });

  it('overwrite asks first: refused without --yes when stdin is not a terminal, done with --yes', async () => {
    const ws = await workspace();
    await cli(ws, ['set', 'server.port', '9000']);
    const fileBundle = path.join(ws, 'b.json');
    await writeFile(fileBundle, (await cli(ws, ['export', '-', '--configs', 'current'])).stdout);
    await cli(ws, ['set', 'server.port', '9999']);
    const refused = await cli(ws, ['import', fileBundle, '--on-conflict', 'overwrite']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^E_CONFIRM: Refusing to overwrite current\.yaml/);
    expect((await cli(ws, ['get', 'server.port'])).stdout).toBe('9999\n');
    const done = json<{ overwritten: Array<{ file: string; backup?: string }>; snapshot?: string }>(await cli(ws, ['--json', 'import', fileBundle, '--on-conflict', 'overwrite', '--yes']));
    expect(done.overwritten).toEqual([expect.objectContaining({ file: 'current.yaml', backup: expect.any(String) })]);
    expect(done.snapshot).toBeTruthy();
    expect((await cli(ws, ['get', 'server.port'])).stdout).toBe('9000\n');
  });

  it('bad usage and hostile bundles: missing or invalid --on-conflict exit 2; a tampered bundle exits 1 and changes nothing', async () => {
    const ws = await workspace();
    await writeFile(path.join(ws, 'b.json'), (await cli(ws, ['export', '-'])).stdout);
    expect((await cli(ws, ['import', 'b.json'])).code).toBe(2);
    expect((await cli(ws, ['import', 'b.json', '--on-conflict', 'merge'])).code).toBe(2);

    const tampered = JSON.parse(await readFile(path.join(ws, 'b.json'), 'utf8')) as { items: Array<{ data: Record<string, unknown> }> };
    tampered.items[0]!.data.injected = true;
    await writeFile(path.join(ws, 't.json'), JSON.stringify(tampered));
    const before = await snapshotDir(path.join(ws, 'config'));
    const r = await cli(ws, ['import', 't.json', '--on-conflict', 'overwrite', '--yes']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^E_CHECKSUM: /);
    expect(await snapshotDir(path.join(ws, 'config'))).toEqual(before);

    const missing = await cli(ws, ['import', 'nope.json', '--on-conflict', 'skip']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^E_NOT_FOUND: /);
  });
});

describe('CLI: verify and repair', () => {
  it('verify exits 0 when clean and 1 with the problems; repair --dry-run changes nothing; repair quarantines', async () => {
    const ws = await workspace();
    const clean = await cli(ws, ['--json', 'verify']);
    expect(clean.code).toBe(0);
    expect(json(clean)).toEqual({ ok: true, problems: [] });

    await writeFile(path.join(ws, 'config', 'profiles', 'broken.yaml'), 'server: [oops\n');
    const found = await cli(ws, ['verify']);
    expect(found.code).toBe(1);
    expect(found.stdout).toMatch(/profiles\/broken\.yaml +unparsable/);
    const problems = json<{ ok: boolean; problems: Array<{ path: string; kind: string }> }>(await cli(ws, ['--json', 'verify']));
    expect(problems.ok).toBe(false);
    expect(problems.problems).toEqual([expect.objectContaining({ path: 'profiles/broken.yaml', kind: 'unparsable' })]);

    const before = await snapshotDir(path.join(ws, 'config'));
    const dry = await cli(ws, ['repair', '--dry-run']);
    expect(dry.code).toBe(1);
    expect(dry.stdout).toMatch(/quarantine → quarantine\//);
    expect(await snapshotDir(path.join(ws, 'config'))).toEqual(before);

    const fixed = json<{ dryRun: boolean; actions: Array<{ action: string; to?: string }>; remaining: unknown[] }>(await cli(ws, ['--json', 'repair']));
    expect(fixed.dryRun).toBe(false);
    expect(fixed.actions).toEqual([expect.objectContaining({ action: 'quarantine' })]);
    expect(fixed.remaining).toEqual([]);
    const quarantined = await readdir(path.join(ws, 'config', 'quarantine'));
    expect(quarantined).toHaveLength(1);
    expect(await readFile(path.join(ws, 'config', 'quarantine', quarantined[0]!), 'utf8')).toBe('server: [oops\n');
    expect((await cli(ws, ['verify'])).code).toBe(0);
  });
});

/** Entries (files with their content, directories, anything else) under `dir`, to prove a command changed nothing. */
async function snapshotDir(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const full = path.join(entry.parentPath, entry.name);
    out[path.relative(dir, full)] = entry.isFile() ? await readFile(full, 'utf8') : entry.isDirectory() ? '<dir>' : '<other>';
  }
  return out;
}
