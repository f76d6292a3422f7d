/**
 * What a failing command tells a new user: every message names the file and says the right thing
 * to do for that situation — no advice that belongs to another (a race for a profile still in use,
 * the schema directory for an `extends` cycle, another backup for a bundle, "nothing was written"
 * after a read) and no parser internals.
 */
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, workspace } from './helpers/cli.js';

const READ_ONLY_ADVICE = /nothing was written/i;

describe('CLI: hints that fit the failure', () => {
  it('deleting a profile another one extends: the conflict is explained, not blamed on another writer', async () => {
    const ws = await workspace();
    await writeFile(path.join(ws, 'config', 'profiles', 'child.yaml'), '$profile:\n  extends: production\nx: 1\n');
    const run = await cli(ws, ['profile', 'delete', 'production', '--yes']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^E_CONFLICT: /);
    expect(run.stderr).toContain('child');
    expect(run.stderr).not.toMatch(/someone else/i);
  });

  it('an extends cycle points at the extends links, not at the schema directory', async () => {
    const ws = await workspace({ schemas: false });
    await writeFile(path.join(ws, 'config', 'profiles', 'a.yaml'), '$profile:\n  extends: b\nx: 1\n');
    await writeFile(path.join(ws, 'config', 'profiles', 'b.yaml'), '$profile:\n  extends: a\ny: 1\n');
    for (const args of [['get', 'x', '--profile', 'a'], ['profile', 'show', 'a']]) {
      const run = await cli(ws, args);
      expect(run.code, args.join(' ')).toBe(1);
      expect(run.stderr).toMatch(/^E_VALIDATION: .*profiles\/[ab]\.yaml/);
      expect(run.stderr).toMatch(/hint: remove one `extends` link/);
      expect(run.stderr).not.toMatch(/schema/i);
      expect(run.stderr).not.toMatch(READ_ONLY_ADVICE);
    }
  });

  it('a tampered bundle says to export it again, not to pick another backup', async () => {
    const ws = await workspace();
    const bundle = JSON.parse((await cli(ws, ['export', '-'])).stdout) as { items: Array<{ data: Record<string, unknown> }> };
    bundle.items[0]!.data.injected = true;
    await writeFile(path.join(ws, 't.json'), JSON.stringify(bundle));
    const run = await cli(ws, ['import', 't.json', '--on-conflict', 'skip']);
    expect(run.stderr).toMatch(/^E_CHECKSUM: t\.json/);
    expect(run.stderr).toMatch(/export it again/i);
    expect(run.stderr).not.toMatch(/backup/i);
  });

  it('loads, status, validate and verify of an invalid file never say "nothing was written"', async () => {
    const ws = await workspace();
    await writeFile(path.join(ws, 'config', 'current.yaml'), 'server:\n  port: -5\n');
    for (const args of [['get', 'server.port'], ['status'], ['validate'], ['verify']]) {
      const run = await cli(ws, args);
      expect(run.code, args.join(' ')).toBe(1);
      expect(`${run.stdout}${run.stderr}`, args.join(' ')).not.toMatch(READ_ONLY_ADVICE);
      expect(`${run.stdout}${run.stderr}`, args.join(' ')).toContain('current.yaml');
    }
    // A refused write does say it.
    const set = await cli(ws, ['set', 'server.port', '-7']);
    expect(set.stderr).toMatch(/^E_VALIDATION: /);
    expect(set.stderr).toMatch(/hint: .*nothing was written/);
  });

  it('a profile name error suggests a profile name, a dot-path error a dot path', async () => {
    const ws = await workspace();
    const profile = await cli(ws, ['profile', 'show', '../x']);
    expect(profile.stderr).toMatch(/^E_INVALID_NAME: /);
    expect(profile.stderr).not.toContain('current.yaml');
    expect(profile.stderr).toContain('"production"');
  });

  it('a value no file can hold is not called a schema mismatch when there is no schema', async () => {
    const ws = await workspace({ schemas: false });
    const run = await cli(ws, ['set', 'x', '.inf']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^E_VALIDATION: config\/current\.yaml does not match what a JSON or YAML file can hold/);
    expect(run.stderr).not.toMatch(/the schema/);
  });

  it('multi-document YAML: our advice, not the parser API', async () => {
    const ws = await workspace({ schemas: false });
    await writeFile(path.join(ws, 'config', 'current.yaml'), 'a: 1\n---\nb: 2\n');
    const run = await cli(ws, ['get', 'a']);
    expect(run.stderr).toMatch(/^E_PARSE: config\/current\.yaml:2:1 /);
    expect(run.stderr).toContain('remove the `---` line or split the file');
    expect(run.stderr).not.toMatch(/parseAllDocuments|YAML\./);
  });

  it('verify shows a damaged backup in one sentence (no ".."), and its whole multi-line messages in the table', async () => {
    const ws = await workspace({ schemas: false });
    await writeFile(path.join(ws, 'config', 'current.yaml'), 'a: 1\n');
    expect((await cli(ws, ['set', 'a', '2'])).code).toBe(0);
    const [backup] = (await readdir(path.join(ws, 'config', 'backups'))).filter((f) => f.startsWith('current.') && f.endsWith('.yaml'));
    await writeFile(path.join(ws, 'config', 'backups', backup!), 'a: 666\n');
    // A profile whose schema-invalid content gives a multi-line message.
    await writeFile(path.join(ws, 'config', 'profiles', 'bad.yaml'), '$profile:\n  extends: 5\n');
    const run = await cli(ws, ['verify']);
    expect(run.code).toBe(1);
    expect(run.stdout).not.toMatch(/\.\. /);
    expect(run.stdout).toMatch(/after it was taken\. Repair moves it/);
    expect(run.stdout).toMatch(/\$profile\.extends must be a profile name/);
    expect(run.stdout).not.toMatch(READ_ONLY_ADVICE);
  });
});
