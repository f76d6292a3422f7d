/**
 * `config-persistence migrate`: the version a directory is at, a dry run's diff (secrets
 * redacted), confirmation, the migration itself, and clear errors for a missing or wrong module.
 * Runs the built binary.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, json } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const SCHEMA = {
  type: 'object',
  properties: {
    port: { type: 'integer' },
    db: { type: 'object', properties: { password: { type: 'string', 'x-secret': true }, url: { type: 'string' } } },
  },
  additionalProperties: false,
};

const MODULE = `export default [
  { version: 1, description: 'port is a number', up: (doc) => ({ ...doc, port: Number(doc.port) }) },
  { version: 2, description: 'dbPassword moves under db', up: (doc) => {
    const { dbPassword, ...rest } = doc;
    return dbPassword === undefined ? doc : { ...rest, db: { password: dbPassword } };
  } },
];
`;

async function setup(): Promise<string> {
  const ws = await tempDir('cp-migrate-cli-');
  await mkdir(path.join(ws, 'config'), { recursive: true });
  await mkdir(path.join(ws, 'schemas'), { recursive: true });
  await writeFile(path.join(ws, 'config', 'current.yaml'), '# the app\nport: "8080"\ndbPassword: hunter2-secret\n');
  await writeFile(path.join(ws, 'migrations.mjs'), MODULE);
  return ws;
}

describe('config-persistence migrate', () => {
  it('shows the version, a redacted dry run, asks before writing, then migrates', async () => {
    const ws = await setup();
    // The schema arrives with the new layout (migrations make the old files fit it).
    await writeFile(path.join(ws, 'schemas', 'config.schema.json'), JSON.stringify(SCHEMA));
    const before = await readFile(path.join(ws, 'config', 'current.yaml'), 'utf8');

    const version = await cli(ws, ['--json', 'migrate']);
    expect(version.code).toBe(0);
    expect(json(version)).toEqual({ version: 0 });

    const dry = await cli(ws, ['migrate', '--migrations', 'migrations.mjs', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/would migrate from version 0 to 2/);
    expect(dry.stdout).toMatch(/port: "8080" → 8080/);
    expect(dry.stdout).toContain('db');
    expect(dry.stdout + dry.stderr).not.toContain('hunter2-secret');
    const shown = await cli(ws, ['--show-secrets', 'migrate', '--migrations', 'migrations.mjs', '--dry-run']);
    expect(shown.stdout).toContain('hunter2-secret');
    expect(await readFile(path.join(ws, 'config', 'current.yaml'), 'utf8')).toBe(before);

    const refused = await cli(ws, ['migrate', '--migrations', 'migrations.mjs']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/E_CONFIRM/);
    expect(await readFile(path.join(ws, 'config', 'current.yaml'), 'utf8')).toBe(before);

    const done = await cli(ws, ['--json', 'migrate', '--migrations', 'migrations.mjs', '--yes']);
    expect(done.code, done.stderr).toBe(0);
    const report = json<{ from: number; to: number; files: Array<{ key: string; changed: boolean; version: number; backup: { id: string } }> }>(done);
    expect(report).toMatchObject({ from: 0, to: 2 });
    expect(report.files[0]).toMatchObject({ key: 'current.yaml', changed: true });
    expect(report.files[0]!.backup.id).toMatch(/^current\./);
    expect(done.stdout).not.toContain('hunter2-secret');
    const after = await readFile(path.join(ws, 'config', 'current.yaml'), 'utf8');
    expect(after).toContain('# the app');
    expect(after).toMatch(/port: 8080/);
    expect(JSON.parse(await readFile(path.join(ws, 'config', 'config-persistence.json'), 'utf8'))).toEqual({ schemaVersion: 2 });
    expect(json(await cli(ws, ['--json', 'migrate']))).toEqual({ version: 2 });

    const again = await cli(ws, ['migrate', '--migrations', 'migrations.mjs', '--yes']);
    expect(again.stdout).toMatch(/already at schema version 2/);
  });

  it('names a missing module, a module without a list, and a step that throws', async () => {
    const ws = await setup();
    const missing = await cli(ws, ['migrate', '--migrations', 'nope.mjs', '--dry-run']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/E_NOT_FOUND: The migrations module .*nope\.mjs does not exist/);

    await writeFile(path.join(ws, 'wrong.mjs'), 'export const steps = 1;\n');
    const wrong = await cli(ws, ['migrate', '--migrations', 'wrong.mjs', '--dry-run']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/E_VALIDATION: .*must export the list of steps/);

    await writeFile(path.join(ws, 'throws.mjs'), 'export default [{ version: 1, up() { throw new Error("boom at step one"); } }];\n');
    const before = await readFile(path.join(ws, 'config', 'current.yaml'), 'utf8');
    const threw = await cli(ws, ['migrate', '--migrations', 'throws.mjs', '--yes']);
    expect(threw.code).toBe(1);
    expect(threw.stderr).toMatch(/E_VALIDATION: Migration to version 1 failed on .*current\.yaml: up\(\) threw: boom at step one/);
    expect(await readFile(path.join(ws, 'config', 'current.yaml'), 'utf8')).toBe(before);
  });
});
