/**
 * Key rotation is one all-or-nothing commit: a child process rotates between two keys in a loop
 * and is killed with SIGKILL at random instants; after every kill, the directory (opened afresh,
 * which rolls an interrupted multi-file commit forward) has every backup, snapshot, history
 * content and live file under the key its settings file records — all old or all new, never a mix —
 * and a store with that key reads every version.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigPersistence } from '../src/index.js';
import { LocalStorage } from '../src/storage/index.js';
import { parseKey } from '../src/encryption/cipher.js';
import { keyIds, newKey } from './helpers/encryption.js';
import { killLoop } from './helpers/kill.js';
import { tempDir } from './helpers/tmp.js';

describe('kill -9 during key rotation', () => {
  it('leaves everything under the old key or everything under the new, and readable with it', async () => {
    const work = await tempDir('cp-enc-crash-');
    const dir = path.join(work, 'config');
    mkdirSync(dir);
    const keys = [newKey(), newKey()];
    const ids = keys.map((k) => parseKey(k).id);
    const options = { baseDir: dir, schemaDir: path.join(work, 'none'), validatorCache: false as const, maxBackups: 50 };
    const cp = new ConfigPersistence({ ...options, encryptionKey: keys[0]!, encryptFiles: true });
    for (let i = 1; i <= 25; i++) await cp.saveConfig({ n: i, pad: 'x'.repeat(2000) }, 'current.json');
    await cp.saveProfile('prod', { n: 0 });
    await cp.createSnapshot();
    await cp.close();

    const seen = new Set<string>();
    const rounds = 12;
    for (let round = 0; round < rounds; round++) {
      await killLoop({
        dir,
        kills: 1,
        maxDelayMs: 400,
        setup: `
          const keys = ${JSON.stringify(keys)};
          const { readFileSync } = await import('node:fs');
          const recorded = JSON.parse(readFileSync(dir + '/config-persistence.json', 'utf8')).encryption.keyId;
          let cur = ${JSON.stringify(ids)}.indexOf(recorded);
          const cp = new ConfigPersistence({ baseDir: dir, schemaDir: dir + '/none', validatorCache: false, encryptionKey: keys[cur] });
        `,
        body: `
          cur = 1 - cur;
          await cp.rotateEncryptionKey(keys[cur]);
        `,
      });
      const raw = new LocalStorage(dir); // opening recovers an interrupted commit first
      const stored = await keyIds(raw, (k) => k === 'current.json' || k === 'profiles/prod.json');
      const recorded = JSON.parse(Buffer.from((await raw.read('config-persistence.json'))!).toString()).encryption.keyId as string;
      await raw.close();
      expect(ids).toContain(recorded);
      seen.add(recorded);
      expect(stored.size).toBeGreaterThanOrEqual(26);
      expect(new Set(stored.values()), `round ${round}: ${JSON.stringify([...stored])}`).toEqual(new Set([recorded]));
      const reader = new ConfigPersistence({ ...options, encryptionKey: keys[ids.indexOf(recorded)]! });
      expect(await reader.getVersion('current.json', 1)).toMatchObject({ n: 1 });
      expect(await reader.loadConfig('current.json')).toMatchObject({ n: 25 });
      expect((await reader.verify()).problems.filter((p) => p.kind === 'undecryptable')).toEqual([]);
      await reader.close();
    }
    // Kills landed on both sides of rotations (each round starts from where the last one stopped).
    expect(seen.size).toBe(2);
  }, 240_000);
});
