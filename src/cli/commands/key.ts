/**
 * `key status|generate|rotate|decrypt`: encryption at rest (docs/encryption.md). The key of the
 * directory comes from `--key-file` or env CONFIG_PERSISTENCE_KEY(_FILE), never from an argument
 * (a command line is visible to every user in `ps`); a new key for `rotate` from `--new-key-file`.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Command } from 'commander';
import { readKeyFile } from '../../encryption/key-source.js';
import { writeUserFile } from '../../storage/local/files.js';
import { pairs } from '../output.js';
import { examples, type Kit, type Runtime } from '../runtime.js';

/** Registers `key` and its subcommands. */
export function registerKey(program: Command, kit: Kit): void {
  const key = examples(
    program.command('key').description('encryption at rest: which key the directory uses, new keys, rotation'),
    'config-persistence key generate --out /etc/app/config.key',
    'config-persistence --key-file old.key key rotate --new-key-file new.key',
  );
  examples(
    key.command('status').description("the directory's key id, whether live files are encrypted, and whether this process has that key"),
    'CONFIG_PERSISTENCE_KEY_FILE=/etc/app/config.key config-persistence key status',
  ).action(kit.act(status));
  examples(
    key.command('generate').description('write a new random key (64 hex digits) to a file only you can read (mode 0600)').requiredOption('-o, --out <file>', 'the key file to create'),
    'config-persistence key generate --out /etc/app/config.key',
  ).action(kit.act(generate));
  examples(
    key
      .command('rotate')
      .description('re-encrypt every backup, snapshot and history content (and live files) with a new key, in one all-or-nothing commit; also encrypts a plain directory')
      .requiredOption('--new-key-file <path>', 'the new key (mode 0600)')
      .option('--encrypt-files', 'encrypt the live files too from now on')
      .option('--no-encrypt-files', 'keep (or make) the live files plain')
      .option('--reason <text>', 'why, for the audit log'),
    'config-persistence --key-file old.key key rotate --new-key-file new.key',
    'config-persistence key rotate --new-key-file app.key   # encrypt a plain directory',
  ).action(kit.act(rotate));
  examples(
    key.command('decrypt').description('store everything plain again (one commit) and forget the key id').option('--reason <text>', 'why, for the audit log'),
    'config-persistence --key-file app.key key decrypt',
  ).action(kit.act(decrypt));
}

async function status(rt: Runtime): Promise<number> {
  const info = await (await rt.store()).encryptionInfo();
  rt.print(info, () =>
    pairs(
      [
        ['directory key', info.directoryKeyId ?? 'none (not encrypted)'],
        ['live files', info.encryptFiles ? 'encrypted' : 'plain'],
        ['this process', info.keyId === null ? 'no key' : info.keyId === info.directoryKeyId || info.directoryKeyId === null ? `key ${info.keyId}` : `key ${info.keyId} — NOT the directory's key`],
      ],
      rt.p,
    ),
  );
  return info.keyId !== null && info.directoryKeyId !== null && info.keyId !== info.directoryKeyId ? 1 : 0;
}

async function generate(rt: Runtime): Promise<number> {
  const file = path.resolve(String(rt.opts.out));
  await writeUserFile(file, Buffer.from(`${randomBytes(32).toString('hex')}\n`), { what: 'the key file', durable: true, mode: 0o600 });
  const id = readKeyFile(file).id;
  rt.print({ path: file, keyId: id }, () => `wrote a new key to ${file} (key id ${id}); keep a copy apart from the directory's backups`);
  return 0;
}

async function rotate(rt: Runtime): Promise<number> {
  const store = await rt.store();
  const next = readKeyFile(String(rt.opts.newKeyFile));
  const encryptFiles = rt.opts.encryptFiles as boolean | undefined;
  const result = await rt.busy(
    're-encrypting',
    store.rotateEncryptionKey(next.bytes, { ...(encryptFiles !== undefined ? { encryptFiles } : {}), ...(rt.opts.reason !== undefined ? { reason: String(rt.opts.reason) } : {}) }),
  );
  rt.print(result, () => `re-encrypted ${result.rewritten.length} objects with key ${result.keyId}${result.previousKeyId ? ` (was ${result.previousKeyId})` : ' (the directory was plain)'}; live files ${result.encryptFiles ? 'encrypted' : 'plain'}. Give every process the new key.`);
  return 0;
}

async function decrypt(rt: Runtime): Promise<number> {
  const store = await rt.store();
  const result = await rt.busy('decrypting', store.rotateEncryptionKey(null, rt.opts.reason !== undefined ? { reason: String(rt.opts.reason) } : {}));
  rt.print(result, () => `stored ${result.rewritten.length} objects plain again; the directory records no key now`);
  return 0;
}
