/**
 * Concurrency worker. Usage: node concurrent.mjs <mode> <baseDir> <count> [id]
 *   increment — <count> × update('counter.json', n + 1); prints "done"
 *   hold      — update('counter.json') whose callback prints "holding" and never returns
 *   try       — one update('counter.json', n + 1); prints "done" or "error <code>"
 *   stall     — update('counter.json', n + 1) whose first callback prints "stalling" and blocks the
 *               event loop for <count> ms (no lock refresh can run); prints "final <n>"
 *   pause     — the same, but the first callback prints "holding" and waits <count> ms on a timer
 *               (the test stops the process with SIGSTOP meanwhile); prints "final <n>"
 *   mixed     — <count> rounds of: shared counter update, own-file save, labelled backup,
 *               cleanup, restore of an own labelled backup; prints "label <id> <sha256>" per
 *               backup and "final <json>" (the content its own file must end with)
 */
import { ConfigPersistence } from '../../../dist/index.js';
import { LocalStorage } from '../../../dist/storage/index.js';

const [mode, baseDir, countArg, id = '0'] = process.argv.slice(2);
const count = Number(countArg);
// CP_STALE_MS / CP_LOCK_TIMEOUT_MS: lock timing for tests that prove a rule without timing it.
const storage = process.env.CP_STALE_MS ? { storage: new LocalStorage(baseDir, { staleLockMs: Number(process.env.CP_STALE_MS) }) } : {};
const cp = new ConfigPersistence({ baseDir, lockTimeoutMs: Number(process.env.CP_LOCK_TIMEOUT_MS ?? 60_000), maxBackups: 3, ...storage });
const inc = (cur) => ({ n: (cur?.n ?? 0) + 1 });

if (mode === 'increment') {
  for (let i = 0; i < count; i++) await cp.update('counter.json', inc);
  process.stdout.write('done\n');
} else if (mode === 'hold') {
  setInterval(() => undefined, 1000); // stay alive: an empty event loop would exit (and release the lock)
  await cp.update('counter.json', () => {
    process.stdout.write('holding\n');
    return new Promise(() => undefined);
  });
} else if (mode === 'try') {
  // One increment; prints "done" or "error <code>" instead of failing.
  try {
    await cp.update('counter.json', inc);
    process.stdout.write('done\n');
  } catch (err) {
    process.stdout.write(`error ${err.code}\n`);
  }
} else if (mode === 'stall' || mode === 'pause') {
  let calls = 0;
  const result = await cp.update('counter.json', async (cur) => {
    if (calls++ === 0) {
      process.stdout.write(mode === 'stall' ? 'stalling\n' : 'holding\n');
      if (mode === 'stall') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, count);
      else await new Promise((resolve) => setTimeout(resolve, count));
    }
    return inc(cur);
  });
  const n = (await cp.loadConfig('counter.json')).n;
  process.stdout.write(`final ${n} version ${result.version} calls ${calls}\n`);
} else if (mode === 'mixed') {
  const own = `p${id}.json`;
  const labelled = [];
  let expected;
  for (let i = 1; i <= count; i++) {
    await cp.update('counter.json', inc);
    expected = { p: Number(id), i, pad: 'z'.repeat(500) };
    await cp.saveConfig(expected, own);
    if (i % 3 === 0) {
      const b = await cp.createBackup(own, { label: `p${id}-${i}` });
      labelled.push({ b, data: expected });
      process.stdout.write(`label ${b.id} ${b.sha256}\n`);
    }
    if (i % 4 === 0) await cp.cleanupBackups();
    if (i % 5 === 0 && labelled.length > 0) {
      const pick = labelled[Math.floor(Math.random() * labelled.length)];
      await cp.restoreBackup(pick.b.id);
      expected = pick.data;
    }
  }
  process.stdout.write(`final ${JSON.stringify(expected)}\n`);
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
await cp.close();
