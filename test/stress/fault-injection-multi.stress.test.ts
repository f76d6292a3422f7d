/**
 * The strace sweep over the multi-file operations (snapshot restore, bundle import): each call
 * failed in turn, and for the snapshot restore the process also killed at each call in turn.
 */
import { describe, expect, it } from 'vitest';
import { A, B, crashTotals, sweepOver, totals } from './sweep-over.js';

describe.runIf(process.platform === 'linux')('every failing call of the multi-file operations', () => {
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
      undefined,
      true,
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
    console.log(`fault-injection/multi-file-operations: ${JSON.stringify(totals)}`);
    console.log(`crash/every-call/multi-file-operations: ${JSON.stringify(crashTotals)}`);
    expect(totals.injections).toBeGreaterThan(100);
  });
});
