/**
 * Encryption through the command line (the built dist/cli.js): the key from
 * CONFIG_PERSISTENCE_KEY or --key-file, `key generate|status|rotate|decrypt`, encrypted `export`
 * (to a file and to stdout) and `import` refused with the wrong key, errors as E_CHECKSUM with exit 1.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isSealed, keyIdIn, parseKey } from '../src/encryption/cipher.js';
import { newKey } from './helpers/encryption.js';
import { cli, json, workspace } from './helpers/cli.js';

const MARKER = 'cli-MARKER-91ab';

async function backupBytes(ws: string): Promise<Buffer[]> {
  const dir = path.join(ws, 'config', 'backups');
  const names = (await readdir(dir)).filter((n) => n !== 'index.jsonl' && !n.startsWith('.'));
  return Promise.all(names.map((n) => readFile(path.join(dir, n))));
}

describe('encryption from the CLI', () => {
  it('set with CONFIG_PERSISTENCE_KEY writes encrypted backups; without the key a restore is E_CHECKSUM (exit 1); export is encrypted', async () => {
    const ws = await workspace();
    const key = newKey();
    const env = { CONFIG_PERSISTENCE_KEY: key };
    expect((await cli(ws, ['set', 'app.name', MARKER], { env })).code).toBe(0);
    expect((await cli(ws, ['set', 'app.name', 'shop-2'], { env })).code).toBe(0);
    const backups = await backupBytes(ws);
    expect(backups.length).toBeGreaterThan(0);
    for (const b of backups) {
      expect(isSealed(b)).toBe(true);
      expect(keyIdIn(b)).toBe(parseKey(key).id);
      expect(b.includes(Buffer.from(MARKER))).toBe(false);
    }
    const list = json<Array<{ id: string }>>(await cli(ws, ['--json', 'backup', 'list'], { env }));
    const noKey = await cli(ws, ['backup', 'restore', list[0]!.id, '--yes']);
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain('E_CHECKSUM');
    expect(noKey.stderr).toContain(list[0]!.id);
    expect((await cli(ws, ['backup', 'restore', list[0]!.id, '--yes'], { env })).code).toBe(0);

    const out = path.join(ws, 'out.bundle.json');
    expect((await cli(ws, ['export', out], { env })).code).toBe(0);
    const file = await readFile(out, 'utf8');
    expect(JSON.parse(file).format).toBe('config-persistence-bundle-encrypted');
    expect(file).not.toContain('postgres://localhost');
    const stdout = await cli(ws, ['export', '-'], { env });
    expect(JSON.parse(stdout.stdout).format).toBe('config-persistence-bundle-encrypted');

    const other = await workspace();
    const wrong = await cli(other, ['import', out, '--on-conflict', 'overwrite'], { env: { CONFIG_PERSISTENCE_KEY: newKey() } });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('E_CHECKSUM');
    expect(wrong.stderr).toContain('out.bundle.json');
    expect(await readdir(path.join(other, 'config'))).toEqual(['default.yaml', 'profiles']);
    expect((await cli(other, ['import', out, '--on-conflict', 'overwrite'], { env })).code).toBe(0);
  }, 60_000);

  it('key generate, --key-file, key status, key rotate (a plain directory, then to a new key) and key decrypt', async () => {
    const ws = await workspace();
    expect((await cli(ws, ['set', 'app.name', MARKER])).code).toBe(0);
    expect((await cli(ws, ['set', 'app.name', 'shop-2'])).code).toBe(0);
    const k1 = path.join(ws, 'k1.key');
    const k2 = path.join(ws, 'k2.key');
    const made = json<{ keyId: string }>(await cli(ws, ['--json', 'key', 'generate', '--out', k1]));
    await cli(ws, ['key', 'generate', '--out', k2]);
    // A key alone on a directory with plain backups: refused, pointing at key rotate.
    const refused = await cli(ws, ['--key-file', k1, 'set', 'app.name', 'x']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('key rotate');
    expect((await cli(ws, ['--key-file', k1, 'key', 'rotate', '--new-key-file', k1])).code).toBe(0);
    for (const b of await backupBytes(ws)) expect(keyIdIn(b)).toBe(made.keyId);
    expect(json(await cli(ws, ['--json', '--key-file', k1, 'key', 'status']))).toEqual({ directoryKeyId: made.keyId, encryptFiles: false, keyId: made.keyId });
    const rotated = await cli(ws, ['--json', '--key-file', k1, 'key', 'rotate', '--new-key-file', k2, '--encrypt-files']);
    expect(rotated.code).toBe(0);
    const k2id = json<{ keyId: string }>(rotated).keyId;
    for (const b of await backupBytes(ws)) expect(keyIdIn(b)).toBe(k2id);
    expect(isSealed(await readFile(path.join(ws, 'config', 'current.yaml')))).toBe(true);
    const stale = await cli(ws, ['--key-file', k1, 'key', 'status']);
    expect(stale.code).toBe(1);
    expect(stale.stdout).toContain('NOT');
    const get = await cli(ws, ['--key-file', k2, 'get', 'app.name']);
    expect(get.stdout.trim()).toBe('shop-2');
    // `profile save` from the encrypted current.yaml reads it through the key too.
    expect((await cli(ws, ['--key-file', k2, 'profile', 'save', 'snap'])).code).toBe(0);
    expect((await cli(ws, ['--key-file', k2, 'get', 'app.name', '--profile', 'snap'])).stdout.trim()).toBe('shop-2');
    expect((await cli(ws, ['--key-file', k2, 'key', 'decrypt'])).code).toBe(0);
    expect(await readFile(path.join(ws, 'config', 'current.yaml'), 'utf8')).toContain('shop-2');
    expect((await cli(ws, ['get', 'app.name'])).stdout.trim()).toBe('shop-2');
    // A key file others can read is refused.
    await writeFile(path.join(ws, 'loose.key'), `${newKey()}\n`, { mode: 0o644 });
    const loose = await cli(ws, ['--key-file', path.join(ws, 'loose.key'), 'status']);
    expect(loose.code).toBe(1);
    expect(loose.stderr).toContain('chmod 600');
  }, 60_000);
});
