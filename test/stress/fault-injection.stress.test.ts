/**
 * The strace sweep (test/reliability/sweep.ts) over every mutating operation, not only the
 * overwrite covered by the fast suite: each file-system call of the operation is failed in turn.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DIST, tempDir } from '../helpers/tmp.js';
import { sweep, type SweepStats } from '../reliability/sweep.js';

const { ConfigPersistence } = (await import(DIST)) as typeof import('../../src/index.js');

const totals: SweepStats = { injections: 0, rejected: 0, resolved: 0 };

/** Builds the starting directory with `prepare` and sweeps `spec` over it. */
async function sweepOver(
  name: string,
  prepare: (cp: InstanceType<typeof ConfigPersistence>) => Promise<Record<string, unknown> | void>,
  spec: (prepared: Record<string, unknown>) => Parameters<typeof sweep>[0]['spec'],
  targets: string[],
  mayAbsorb?: (shape: string) => boolean,
): Promise<void> {
  const work = await tempDir('cp-sweep-');
  const template = path.join(work, 'template');
  mkdirSync(template);
  const cp = new ConfigPersistence({ baseDir: template, schemaDir: path.join(work, 'no-schemas') });
  const prepared = (await prepare(cp)) ?? {};
  await cp.close();
  const stats = await sweep({ template, work, spec: spec(prepared), targets, ...(mayAbsorb ? { mayAbsorb } : {}) });
  console.log(`fault-injection/${name}: ${JSON.stringify(stats)}`);
  for (const k of Object.keys(totals) as Array<keyof SweepStats>) totals[k] += stats[k];
  expect(stats.rejected).toBeGreaterThan(5);
}

const A = { generation: 'a', pad: 'a'.repeat(2000) };
const B = { generation: 'b', pad: 'b'.repeat(2500) };

describe.runIf(process.platform === 'linux')('every failing call of every mutating operation', () => {
  it('saveConfig of a new file in a new directory', async () => {
    await sweepOver('save-new', async (cp) => void (await cp.saveConfig(A, 'current.json')), () => ({ op: 'save', file: 'profiles/new.json', data: B }), ['profiles/new.json']);
  }, 600_000);

  it('update()', async () => {
    await sweepOver('update', async (cp) => void (await cp.saveConfig(A, 'current.json')), () => ({ op: 'update', file: 'current.json', data: { extra: 1 } }), ['current.json']);
  }, 600_000);

  it('deleteConfig', async () => {
    await sweepOver('delete', async (cp) => void (await cp.saveConfig(A, 'current.json')), () => ({ op: 'delete', file: 'current.json' }), ['current.json']);
  }, 600_000);

  it('restoreBackup of a file backup', async () => {
    await sweepOver(
      'restore',
      async (cp) => {
        await cp.saveConfig(A, 'current.json');
        const b = await cp.createBackup('current.json', { label: 'keep' });
        await cp.saveConfig(B, 'current.json');
        return { id: b.id };
      },
      (p) => ({ op: 'call', method: 'restoreBackup', args: [p.id] }),
      ['current.json'],
    );
  }, 600_000);

  it('saveProfile and deleteProfile', async () => {
    await sweepOver('save-profile', async (cp) => void (await cp.saveProfile('dev', A)), () => ({ op: 'call', method: 'saveProfile', args: ['dev', B] }), ['profiles/dev.json']);
    // Looking for profiles that extend "dev" also reads "dev" itself; if that read fails, "dev"
    // is being deleted anyway and its own extends do not matter.
    await sweepOver('delete-profile', async (cp) => void (await cp.saveProfile('dev', A)), () => ({ op: 'call', method: 'deleteProfile', args: ['dev'] }), ['profiles/dev.json'], (shape) =>
      /^(openat|close) <dir>\/profiles\/dev\.json$/.test(shape),
    );
  }, 600_000);

  it('restoreBackup of a snapshot (several files, all or nothing)', async () => {
    await sweepOver(
      'snapshot-restore',
      async (cp) => {
        await cp.saveConfig(A, 'a.json');
        await cp.saveConfig(A, 'b.json');
        await cp.saveProfile('p1', A);
        const snap = await cp.createSnapshot({ label: 'base' });
        await cp.saveConfig(B, 'a.json');
        await cp.deleteConfig('b.json');
        await cp.saveConfig(B, 'c.json');
        await cp.saveProfile('p1', B);
        return { id: snap.id };
      },
      (p) => ({ op: 'call', method: 'restoreBackup', args: [p.id] }),
      ['a.json', 'b.json', 'c.json', 'profiles/p1.json'],
    );
  }, 600_000);

  it('importBundle with overwrite (several files, all or nothing)', async () => {
    await sweepOver(
      'import',
      async (cp) => {
        await cp.saveConfig(A, 'a.json');
        await cp.saveProfile('p1', A);
        const bundle = await cp.exportBundle();
        await cp.saveConfig(B, 'a.json');
        await cp.deleteProfile('p1');
        return { bundle };
      },
      (p) => ({ op: 'call', method: 'importBundle', args: [p.bundle, { onConflict: 'overwrite' }] }),
      ['a.json', 'profiles/p1.json'],
    );
  }, 600_000);

  it('totals', () => {
    console.log(`fault-injection/all-operations: ${JSON.stringify(totals)}`);
    expect(totals.injections).toBeGreaterThan(100);
  });
});
