/**
 * Encryption at rest on EtcdStorage (a real etcd member): the layer over a backend without
 * synchronous reads, whose settings file (and its key record) is read asynchronously before the
 * first operation. Round trip without plaintext in etcd, a wrong key refused with nothing written,
 * rotation in one transaction, encryptFiles through Configuration.open.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Configuration, ConfigPersistence } from '../src/index.js';
import { EtcdStorage } from '../src/storage/etcd/index.js';
import { parseKey } from '../src/encryption/cipher.js';
import { startEtcd, type EtcdCluster } from './helpers/etcd.js';
import { errorOf, isContentKey, keyIds, newKey, rawDump, snapshotOf } from './helpers/encryption.js';
import { tempDir } from './helpers/tmp.js';

const MARKER = 'etcd-MARKER-55d0';
let member: Promise<EtcdCluster> | undefined;
const opened: Array<{ close(): Promise<void> }> = [];
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
});

async function place(): Promise<{ raw: EtcdStorage; open: (opts?: ConstructorParameters<typeof ConfigPersistence>[0]) => ConfigPersistence; storage: () => EtcdStorage; work: string }> {
  const { endpoints } = await (member ??= startEtcd(1));
  const prefix = `enc-${randomBytes(6).toString('hex')}/`;
  const work = await tempDir('cp-enc-etcd-');
  const storage = (): EtcdStorage => {
    const s = new EtcdStorage({ endpoints, prefix });
    opened.push(s);
    return s;
  };
  const open = (opts = {}): ConfigPersistence => {
    const cp = new ConfigPersistence({ storage: storage(), schemaDir: path.join(work, 'none'), validatorCache: false, ...opts });
    opened.push(cp);
    return cp;
  };
  return { raw: storage(), open, storage, work };
}

describe('encryption at rest on EtcdStorage', () => {
  it('backups and history are stored encrypted; another key is refused with nothing written; rotation re-encrypts all in one transaction', async () => {
    const p = await place();
    const key = newKey();
    const cp = p.open({ encryptionKey: key, maxBackups: 2 });
    for (let i = 1; i <= 4; i++) await cp.saveConfig({ password: `${MARKER}-${i}` }, 'current.json');
    const dump = await rawDump(p.raw);
    expect([...dump.keys()].filter(isContentKey).length).toBeGreaterThanOrEqual(3);
    for (const [k, v] of dump) if (isContentKey(k)) expect(v.includes(Buffer.from(MARKER)), k).toBe(false);
    expect(await cp.getVersion('current.json', 1)).toEqual({ password: `${MARKER}-1` });

    const other = p.open({ encryptionKey: newKey() });
    const before = await snapshotOf(p.raw);
    const err = await errorOf(other.saveConfig({ password: 'x' }, 'current.json'));
    expect([err.code, err.reason]).toEqual(['E_CHECKSUM', 'wrong-key']);
    expect((await errorOf(other.getVersion('current.json', 1))).reason).toBe('wrong-key');
    expect(await snapshotOf(p.raw)).toEqual(before);

    const next = newKey();
    await cp.rotateEncryptionKey(next);
    expect(new Set((await keyIds(p.raw)).values())).toEqual(new Set([parseKey(next).id]));
    const fresh = p.open({ encryptionKey: next });
    expect(await fresh.getVersion('current.json', 1)).toEqual({ password: `${MARKER}-1` });
    expect((await errorOf(p.open({ encryptionKey: key }).saveConfig({ password: 'stale' }, 'current.json'))).reason).toBe('wrong-key');
  }, 60_000);

  it('encryptFiles: the live file in etcd is encrypted and Configuration.open loads it with the key', async () => {
    const p = await place();
    const key = newKey();
    const cp = p.open({ encryptionKey: key, encryptFiles: true });
    await cp.saveConfig({ password: MARKER, port: 7 }, 'current.json');
    const live = Buffer.from((await p.raw.read('current.json'))!);
    expect(live.includes(Buffer.from(MARKER))).toBe(false);
    const config = await Configuration.open({ storage: p.storage(), encryptionKey: key, validatorCache: false, schemaDir: path.join(p.work, 'none') });
    expect(config.get('port')).toBe(7);
    await config.close();
    const keyless = await errorOf(Configuration.open({ storage: p.storage(), validatorCache: false, schemaDir: path.join(p.work, 'none') }));
    expect([keyless.code, keyless.reason]).toEqual(['E_CHECKSUM', 'no-key']);
  }, 60_000);
});
