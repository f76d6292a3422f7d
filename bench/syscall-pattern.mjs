/**
 * What the save's system calls alone cost, without the library: the floor (the durable replace made
 * with synchronous system calls), the same through fs.promises, then the same replace made with
 * synchronous small calls and the fsyncs awaited on the thread pool, then with each extra file a
 * save also makes durable (history journal line, history-object link), each fsync issued in
 * parallel with the others of its phase, exactly as src/storage/local/commit.ts does; then the audit
 * line, written but fsynced in the background (as now) and fsynced before resolving (as before).
 * Interleaved rounds, ratios per round to the synchronous floor.
 *
 *   node bench/syscall-pattern.mjs [work-dir]     (default: a temp directory on the current disk)
 *
 * Not a scenario of `npm run bench`: it measures a bound for our design, not a product.
 */
import { closeSync, constants, existsSync, fsync, linkSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { floorWrite, floorWriteSync, median, ROOT } from './lib.mjs';

const fsyncAsync = promisify(fsync);
const root = process.argv[2] ?? mkdtempSync(path.join(ROOT, '.bench-pattern-'));
const data = Buffer.alloc(2100, 120);
const JOURNAL_LINE = `${JSON.stringify({ v: 1, at: new Date().toISOString(), by: 'user', sha256: 'f'.repeat(64), size: 2100, op: 'save' })}\n`;
const AUDIT_LINE = `${JSON.stringify({ at: new Date().toISOString(), op: 'save', file: 'c.json', changedBy: 'user', version: 1 })}\n`;

async function syncDir(dir) {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fsyncAsync(fd);
  } finally {
    closeSync(fd);
  }
}

let n = 0;
function pattern(name, { journal = false, objects = false, audit = false, auditSync = true } = {}) {
  const dir = path.join(root, name);
  mkdirSync(path.join(dir, 'history', 'objects'), { recursive: true });
  return async () => {
    n++;
    const temp = path.join(dir, `.c.json.${n}.cp-tmp`);
    const target = path.join(dir, 'c.json');
    const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
    writeSync(fd, data, 0, data.length, 0);
    const phase1 = [fsyncAsync(fd)];
    const open = [];
    if (objects && existsSync(target)) {
      linkSync(target, path.join(dir, 'history', 'objects', `o${n}`));
      phase1.push(syncDir(path.join(dir, 'history', 'objects')));
    }
    if (journal) {
      const j = openSync(path.join(dir, 'history', 'c.json.jsonl'), 'a');
      writeSync(j, JOURNAL_LINE);
      open.push(j);
      phase1.push(fsyncAsync(j));
    }
    await Promise.all(phase1);
    closeSync(fd);
    renameSync(temp, target);
    const phase3 = [syncDir(dir)];
    if (audit) {
      const a = openSync(path.join(dir, 'audit.log'), 'a');
      writeSync(a, AUDIT_LINE);
      open.push(a);
      if (auditSync) phase3.push(fsyncAsync(a)); // else left to the background (the library: one fsync per 100 ms)
    }
    await Promise.all(phase3);
    for (const o of open) closeSync(o);
  };
}

mkdirSync(path.join(root, 'floor'), { recursive: true });
mkdirSync(path.join(root, 'floor-promises'), { recursive: true });
const candidates = [
  ['floor (synchronous syscalls, 2 fsyncs)', async () => floorWriteSync(path.join(root, 'floor', 'c.json'), data)],
  ['floor through fs.promises (2 fsyncs)', () => floorWrite(path.join(root, 'floor-promises', 'c.json'), data)],
  ['same, synchronous small calls (2 fsyncs)', pattern('a')],
  ['+ history journal line (3)', pattern('b', { journal: true })],
  ['+ history-object link (4)', pattern('c', { journal: true, objects: true })],
  ['+ audit line, not waited for (4) = a save now', pattern('e', { journal: true, objects: true, audit: true, auditSync: false })],
  ['+ audit line fsynced too (5) = the old save', pattern('d', { journal: true, objects: true, audit: true })],
];
const samples = candidates.map(() => []);
try {
  for (let r = 0; r < 9; r++) {
    for (let k = 0; k < candidates.length; k++) {
      const i = (k + r) % candidates.length;
      const t0 = performance.now();
      for (let x = 0; x < 60; x++) await candidates[i][1]();
      samples[i].push((performance.now() - t0) / 60);
    }
  }
  for (const [i, [label]] of candidates.entries()) {
    const ratio = median(samples[i].map((v, r) => v / samples[0][r]));
    console.log(`${label.padEnd(48)} ${median(samples[i]).toFixed(3)} ms  ${ratio.toFixed(2)}×`);
  }
} finally {
  if (!process.argv[2]) rmSync(root, { recursive: true, force: true });
}
