/**
 * The strace sweep over the single-file operations: each file-system call failed in turn, and for
 * update and delete the process also killed at each call in turn.
 */
import { describe, expect, it } from 'vitest';
import { A, B, crashTotals, sweepOver, totals } from './sweep-over.js';

describe.runIf(process.platform === 'linux')('every failing call of the single-file operations', () => {
  it('saveConfig of a new file in a new directory', async () => {
    await sweepOver('save-new', async (cp) => void (await cp.saveConfig(A, 'current.json')), () => ({ op: 'save', file: 'profiles/new.json', data: B }), ['profiles/new.json']);
  }, 600_000);

  it('update()', async () => {
    await sweepOver('update', async (cp) => void (await cp.saveConfig(A, 'current.json')), () => ({ op: 'update', file: 'current.json', data: { extra: 1 } }), ['current.json'], undefined, true);
  }, 600_000);

  it('deleteConfig', async () => {
    await sweepOver('delete', async (cp) => void (await cp.saveConfig(A, 'current.json')), () => ({ op: 'delete', file: 'current.json' }), ['current.json'], undefined, true);
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

  it('deleteProfile', async () => {
    // Looking for profiles that extend "dev" also reads "dev" itself; if that read fails, "dev"
    // is being deleted anyway and its own extends do not matter.
    await sweepOver('delete-profile', async (cp) => void (await cp.saveProfile('dev', A)), () => ({ op: 'call', method: 'deleteProfile', args: ['dev'] }), ['profiles/dev.json'], (shape) =>
      /^(openat|close) <dir>\/profiles\/dev\.json$/.test(shape),
    );
  }, 600_000);

  it('totals', () => {
    console.log(`fault-injection/single-file-operations: ${JSON.stringify(totals)}`);
    console.log(`crash/every-call/single-file-operations: ${JSON.stringify(crashTotals)}`);
    expect(totals.injections).toBeGreaterThan(100);
  });
});
