/**
 * Fault-injection worker: prepares one operation, prints "ready", waits for "go" on stdin (so a
 * tracer can attach to a process that has finished loading), runs the operation and prints
 * "result <json>" whether it resolved or rejected. It never lets an error escape: a crash of this
 * process is itself a finding.
 *
 * Usage: node once.mjs '<spec json>' where spec = { baseDir, op, file?, data?, args? }
 * Ops: save, update, delete, load, and the raw writers used for comparison: wfa (write-file-atomic).
 */
import { ConfigPersistence } from '../../../dist/index.js';
import { LocalStorage } from '../../../dist/storage/index.js';
import { promises, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

const spec = JSON.parse(process.argv[2]);
// The background fsync of the audit line and backup records fires 100 ms after a write by default:
// under strace that can land inside the operation in one run and not in another, shifting the
// call ordinals the sweeps inject at. Pushed out of reach here (the process exits without close());
// test/reliability/fsync-order.test.ts covers the background fsync itself.
const storage = new LocalStorage(spec.baseDir, { deferredSyncMs: 600_000 });
const cp = new ConfigPersistence({ baseDir: spec.baseDir, schemaDir: `${spec.baseDir}/../no-schemas`, storage, ...(spec.options ?? {}) });

const ops = {
  save: () => cp.saveConfig(spec.data, spec.file),
  update: () => cp.update(spec.file, (cur) => ({ ...(cur ?? {}), ...spec.data })),
  delete: () => cp.deleteConfig(spec.file),
  load: () => cp.loadConfig(spec.file),
  wfa: async () => {
    const { default: writeFileAtomic } = await import('write-file-atomic');
    await writeFileAtomic(`${spec.baseDir}/${spec.file}`, JSON.stringify(spec.data));
    return { written: true };
  },
  call: () => cp[spec.method](...(spec.args ?? [])),
};

// Warm up: load code paths, resolve names, start the thread pool, so that after "go" the only
// system calls are the operation's own.
await cp.loadConfig(spec.file).catch(() => undefined); // missing or unreadable: fine, only warming up
// The thread pool starts on its first request; Node 24 reads the warm-up load synchronously, so
// without this there is no pool thread yet when fsThread() looks for it (and the tracer attaches
// to a V8 thread instead).
await promises.access(spec.baseDir).catch(() => undefined);
// The time zone is read from /etc/localtime on the main thread when V8 first needs it, at a point
// that differs between Node versions and runs (seen on Node 24: inside the first save, shifting
// the main thread's openat count against the dry run). Read here, before tracing starts.
new Date().toString();
// The packages the library loads on first use (src/core/lazy-deps.ts): loading one opens and closes a
// dozen files on the main thread, calls of the kinds the sweeps count. Loaded here (one module
// cache per process), the operation's window holds its own calls only.
const require = createRequire(import.meta.url);
for (const id of ['yaml', 'jsonc-parser', 'node:zlib']) require(id);
if (spec.op === 'wfa') await import('write-file-atomic');
process.stdout.write(`ready ${process.pid} ${fsThread()}\n`);

/**
 * The thread pool's thread (UV_THREADPOOL_SIZE=1). Newer Node versions name it "libuv-worker";
 * on older ones it is the thread besides the main one that has made the most read()/write() calls
 * (file reads, and eventfd writes to wake the main loop).
 */
function fsThread() {
  let best = { tid: process.pid, calls: -1 };
  for (const tid of readdirSync('/proc/self/task')) {
    if (Number(tid) === process.pid) continue;
    if (readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === 'libuv-worker') return Number(tid);
    const io = readFileSync(`/proc/self/task/${tid}/io`, 'utf8');
    const calls = Number(/syscr: (\d+)/.exec(io)?.[1] ?? 0) + Number(/syscw: (\d+)/.exec(io)?.[1] ?? 0);
    if (calls > best.calls) best = { tid: Number(tid), calls };
  }
  return best.tid;
}

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (line.trim() !== 'go') continue;
  let out;
  try {
    out = { ok: true, value: await ops[spec.op]() };
  } catch (err) {
    out = { ok: false, name: err?.name, code: err?.code, syscallCode: err?.syscallCode, message: String(err?.message ?? err) };
  }
  process.stdout.write(`result ${JSON.stringify(out)}\n`);
  break;
}
rl.close();
process.exit(0);
