/**
 * Releasing locks after an operation: every lock is released even when one release fails, and an
 * operation reports how its own work went, not the release: a failed one its own error (an
 * unreachable backend fails both: the commit's "nothing was written" is what the caller needs), a
 * successful one resolves (its change is made: a caller retrying it would make it twice; a lock
 * left behind is freed by its backend, Release). The real case is in test/etcd-lost-answer.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ConfigPersistence } from '../src/index.js';
import { MemoryStorage, MemoryVolume } from '../src/storage/index.js';
import type { LockOptions, Release, Storage } from '../src/storage/index.js';

/** A MemoryStorage whose lock releases fail when `failing` says so (the lock is then left held). */
function flakyReleases(volume: MemoryVolume, fault?: ConstructorParameters<typeof MemoryStorage>[0]['fault']) {
  const inner = new MemoryStorage({ volume, ...(fault ? { fault } : {}) });
  const state = { failing: false, released: [] as string[], refused: [] as string[] };
  const storage: Storage = Object.assign(Object.create(inner) as MemoryStorage, {
    lock: async (name: string, opts?: LockOptions): Promise<Release> => {
      const release = await inner.lock(name, opts);
      return async () => {
        if (state.failing && state.refused.length === 0) {
          state.refused.push(name);
          throw Object.assign(new Error(`could not release ${name}: the backend did not answer`), { code: 'E_IO' });
        }
        state.released.push(name);
        await release();
      };
    },
  });
  return { storage, state };
}

describe('lock release', () => {
  it("a failed save reports the commit's error when its lock release fails too", async () => {
    const volume = new MemoryVolume();
    const { storage, state } = flakyReleases(volume, (op) => op.phase === 'changes' && op.key === 'app.json');
    const store = new ConfigPersistence({ storage, schema: {} });
    state.failing = true;
    const err = (await store.saveConfig({ v: 1 }, 'app.json').catch((e: unknown) => e)) as Error & { code?: string };
    expect(err.code).toBe('E_IO');
    expect(err.message).not.toContain('could not release');
    expect(state.refused).toHaveLength(1);
    await store.close();
  });

  it('every lock of a multi-file operation is released although one release fails; the operation that succeeded resolves', async () => {
    const volume = new MemoryVolume();
    const seed = new ConfigPersistence({ storage: new MemoryStorage({ volume }), schema: {} });
    for (const name of ['a.json', 'b.json', 'c.json']) await seed.saveConfig({ name }, name);
    await seed.close();

    const { storage, state } = flakyReleases(volume);
    const store = new ConfigPersistence({ storage, schema: {} });
    state.failing = true;
    const snapshot = await store.createSnapshot();
    expect(snapshot.id).toBeTruthy();
    expect((await store.listBackups()).map((b) => b.id)).toContain(snapshot.id);
    // The snapshot lock and the three files' locks: one refused, every other one released.
    expect(state.refused).toHaveLength(1);
    expect(state.released.length).toBeGreaterThanOrEqual(3);
    expect(new Set([...state.refused, ...state.released]).size).toBe(state.refused.length + state.released.length);
    // The refused one is still held by this process; the others can be taken at once by another.
    const other = new MemoryStorage({ volume });
    for (const name of state.released) await (await other.lock(name, { timeoutMs: 200 }))();
    await store.close();
  });
});
