/**
 * Helpers shared by the benchmark scenarios: timing, statistics, the durable-write floor (synchronous
 * system calls) and its fs.promises and group-commit references, event-loop stall monitoring, a
 * realistic config generator and fresh-process timing. No dependencies beyond Node.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, fsync, fsyncSync, linkSync, mkdirSync, openSync, promises as fs, renameSync, writeFileSync, writeSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { promisify } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Directory of this file (bench/). */
export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
/** Repository root. */
export const ROOT = path.dirname(BENCH_DIR);
/** The built library: scenarios measure what users import. */
export const DIST = path.join(ROOT, 'dist', 'index.js');

/** Monotonic time in milliseconds. */
export function now() {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Median of numbers (NaN for none). */
export function median(values) {
  return percentile(values, 50);
}

/** The p-th percentile (nearest rank on sorted values). */
export function percentile(values, p) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/** Rounds to 3 significant-ish decimals for JSON output. */
export function round(value, digits = 3) {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Times `fn` `n` times in a row and returns the mean per call in ms; each call's time goes into `calls` when given. */
export async function timeEach(n, fn, calls) {
  const start = now();
  for (let i = 0; i < n; i++) {
    const t = now();
    await fn(i);
    calls?.push(now() - t);
  }
  return (now() - start) / n;
}

/**
 * One round of interleaved timing: `perRound` calls of each candidate's `save`, in `blocks` blocks
 * taken in turn (rotated by `round`), so every candidate sees the same drift of the disk's latency,
 * which on shared machines moves over seconds. Returns the mean ms per call of each candidate.
 */
export async function timeInterleaved(candidates, perRound, blocks, round, calls) {
  const sums = candidates.map(() => 0);
  const size = Math.max(1, Math.round(perRound / blocks));
  for (let b = 0; b < blocks; b++) {
    for (let k = 0; k < candidates.length; k++) {
      const i = (k + round * blocks + b) % candidates.length; // each block starts one candidate later
      sums[i] += await timeEach(size, candidates[i].save, calls?.[i]);
    }
  }
  return sums.map((sum) => sum / blocks);
}

/**
 * The per-call spread of a candidate next to the floor's: p50 and p95 in ms and the p50 ratio. The
 * judged figure stays the mean (what a stream of saves costs); the spread shows how much of a gap
 * is the tail (a disk's slow fsyncs: a save that waits for four of them meets more than one that
 * waits for two).
 */
export function spreadOf(calls, floorCalls) {
  const p50 = percentile(calls, 50);
  return { p50_ms: round(p50), p95_ms: round(percentile(calls, 95)), p50_ratio: round(p50 / percentile(floorCalls, 50), 2) };
}

/** Writes back everything dirty (`sync(1)`, where there is one); untimed, between measurements. */
export function settleDisk() {
  spawnSync('sync', { stdio: 'ignore', timeout: 60_000 });
}

let floorCounter = 0;

/** A fresh temp name next to `file` (exclusive create: never an existing file). */
function tempOf(file) {
  return `${file}.${process.pid}-${++floorCounter}.tmp`;
}

/**
 * The floor: the disk's own cost of a durable atomic replace, made with synchronous system calls —
 * exclusive temp file, write (looping on short counts), fsync, close, rename, open the directory,
 * fsync it, close it. No thread-pool round trip, no promise: the eight calls and nothing else. It
 * holds the event loop for both fsyncs, which no library may do; it is the cost to match, not a
 * design to copy. Every save ratio of the benchmark is to this.
 */
export function floorWriteSync(file, data) {
  const tmp = tempOf(file);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
  try {
    let off = 0;
    while (off < data.byteLength) off += writeSync(fd, data, off, data.byteLength - off, off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dir = openSync(path.dirname(file), constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/**
 * The same durable atomic replace through `fs.promises` (the API the peers use): every call is a
 * round trip through libuv's thread pool, 1.6-2.1× the synchronous sequence here (FACTS.md). Kept
 * as a reference row beside the floor.
 */
export async function floorWrite(file, data) {
  const tmp = tempOf(file);
  const fh = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
  try {
    let off = 0;
    while (off < data.byteLength) off += (await fh.write(data, off, data.byteLength - off, off)).bytesWritten;
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, file);
  const dir = await fs.open(path.dirname(file), constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

const fsyncAsync = promisify(fsync);

/**
 * What a save that keeps history must make durable, by hand (no library): the new content in a
 * temp file, a hard link of the old content into `history/objects/` and a history line, their
 * three fsyncs in flight together on the thread pool (the object's directory, the line, the temp
 * file), then the rename and the directory's fsync. Metadata calls synchronous. Four fsyncs where
 * the floor makes two: the bound a save with history can approach on a given disk.
 */
export async function protocolWrite(file, data, state) {
  const dir = path.dirname(file);
  const objects = path.join(dir, 'history', 'objects');
  if (!state.ready) {
    mkdirSync(objects, { recursive: true });
    writeFileSync(file, '{}');
    state.ready = true;
    state.n = 0;
  }
  const tmp = tempOf(file);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
  const journal = openSync(path.join(dir, 'history', 'settings.json.jsonl'), constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o600);
  let objectsDir;
  try {
    let off = 0;
    while (off < data.byteLength) off += writeSync(fd, data, off, data.byteLength - off, off);
    const synced = [fsyncAsync(fd)];
    linkSync(file, path.join(objects, `v${++state.n}-${process.pid}`));
    writeSync(journal, `{"v":${state.n},"at":"${new Date().toISOString()}"}\n`);
    synced.push(fsyncAsync(journal));
    objectsDir = openSync(objects, constants.O_RDONLY | constants.O_DIRECTORY);
    synced.push(fsyncAsync(objectsDir));
    await Promise.all(synced);
  } finally {
    closeSync(fd);
    closeSync(journal);
    if (objectsDir !== undefined) closeSync(objectsDir);
  }
  renameSync(tmp, file);
  const d = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fsyncAsync(d);
  } finally {
    closeSync(d);
  }
  // History is pruned in the background, as the library does: the directory stays small.
  if (state.n > 64) fs.unlink(path.join(objects, `v${state.n - 64}-${process.pid}`)).catch(() => undefined);
}

/**
 * A bare group commit of several files of one directory (`entries`: `[file, data]`, all in the
 * same directory): every temp file opened and written with synchronous calls, the fsyncs issued
 * together on the thread pool (the disk overlaps them), then the renames, then ONE fsync of the
 * directory for all of them. The bound a library's group commit can approach (FACTS.md: 0.41-0.48×
 * the same files written one after another).
 */
export async function groupFloorWrite(entries) {
  const temps = entries.map(([file, data]) => {
    const tmp = tempOf(file);
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
    let off = 0;
    while (off < data.byteLength) off += writeSync(fd, data, off, data.byteLength - off, off);
    return { file, tmp, fd };
  });
  try {
    await Promise.all(temps.map((t) => fsyncAsync(t.fd)));
  } finally {
    for (const t of temps) closeSync(t.fd);
  }
  for (const t of temps) renameSync(t.tmp, t.file);
  const dir = openSync(path.dirname(entries[0][0]), constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fsyncAsync(dir);
  } finally {
    closeSync(dir);
  }
}

/**
 * {@link groupFloorWrite} with what a save that keeps history adds, by hand: per file a hard link
 * of its old content into `history/objects/` and a line in its own history journal; every temp
 * file's and journal's fsync and one of `history/objects/` in flight together, then the renames and
 * ONE fsync of the directory. The bound a group of saves with history can approach on a disk
 * (each file's journal is its own fsync).
 */
export async function groupProtocolWrite(entries, state) {
  const dir = path.dirname(entries[0][0]);
  const objects = path.join(dir, 'history', 'objects');
  if (!state.ready) {
    mkdirSync(objects, { recursive: true });
    for (const [file] of entries) writeFileSync(file, '{}');
    state.ready = true;
    state.n = 0;
  }
  const n = ++state.n;
  const fds = [];
  try {
    const temps = entries.map(([file, data]) => {
      const tmp = tempOf(file);
      const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
      fds.push(fd);
      let off = 0;
      while (off < data.byteLength) off += writeSync(fd, data, off, data.byteLength - off, off);
      linkSync(file, path.join(objects, `${path.basename(file)}-v${n}-${process.pid}`));
      const journal = openSync(path.join(dir, 'history', `${path.basename(file)}.jsonl`), constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND, 0o600);
      fds.push(journal);
      writeSync(journal, `{"v":${n},"at":"${new Date().toISOString()}"}\n`);
      return { file, tmp };
    });
    const objectsDir = openSync(objects, constants.O_RDONLY | constants.O_DIRECTORY);
    fds.push(objectsDir);
    await Promise.all(fds.map((fd) => fsyncAsync(fd)));
    for (const t of temps) renameSync(t.tmp, t.file);
  } finally {
    for (const fd of fds) closeSync(fd);
  }
  const d = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fsyncAsync(d);
  } finally {
    closeSync(d);
  }
  if (n > 8) for (const [file] of entries) fs.unlink(path.join(objects, `${path.basename(file)}-v${n - 8}-${process.pid}`)).catch(() => undefined);
}

/** Timer resolution of the event-loop monitor, ms. */
export const STALL_RESOLUTION_MS = 1;

/**
 * Runs `body` under an event-loop delay monitor (perf_hooks.monitorEventLoopDelay, 1 ms timer).
 * Returns the longest stall beyond the timer's interval (`max`), the p99, the elapsed time and the
 * longest garbage-collection pause inside the window (`gcMax`).
 */
export async function monitorStalls(body) {
  let gcMax = 0;
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcMax = Math.max(gcMax, entry.duration);
  });
  gc.observe({ entryTypes: ['gc'] });
  const h = monitorEventLoopDelay({ resolution: STALL_RESOLUTION_MS });
  h.enable();
  const start = now();
  await body();
  const elapsed = now() - start;
  // Let the monitor's timer fire once more, so a stall at the very end is recorded.
  await new Promise((resolve) => setTimeout(resolve, 3 * STALL_RESOLUTION_MS));
  h.disable();
  gc.disconnect();
  const toMs = (ns) => Math.max(0, ns / 1e6 - STALL_RESOLUTION_MS);
  return { max: toMs(h.max), p99: toMs(h.percentile(99)), elapsed, gcMax };
}

/** An idle event loop for `ms` (1 ms timers, nothing else): the noise floor of {@link monitorStalls}. */
export async function idleFor(ms) {
  const end = now() + ms;
  while (now() < end) await new Promise((resolve) => setTimeout(resolve, 1));
}

/**
 * A realistic application config of about `bytes` bytes when JSON-stringified with 2-space indent
 * (services with hosts, ports, timeouts, feature flags, lists). `seed` varies the values.
 */
export function makeConfig(bytes = 2048, seed = 0) {
  const config = {
    app: { name: 'shop', version: `1.${seed % 100}.0`, environment: 'production', debug: false },
    server: { host: '0.0.0.0', port: 8080 + (seed % 10), timeoutMs: 30000, cors: ['https://shop.example.com'] },
    database: { host: 'db.internal', port: 5432, name: 'shop', pool: { min: 2, max: 20, idleMs: 10000 } },
    features: {},
    services: [],
  };
  let i = 0;
  while (JSON.stringify(config, null, 2).length < bytes) {
    if (i % 3 === 0) config.features[`flag_${i}`] = (seed + i) % 2 === 0;
    else {
      config.services.push({
        name: `service-${i}`,
        url: `https://svc-${i}.internal:${9000 + i}/v1`,
        retries: (seed + i) % 5,
        timeoutMs: 1000 + i * 10,
      });
    }
    i++;
  }
  return config;
}

/** The file system type of `dir` (`ext2/ext3` is what stat reports for ext4), best effort. */
export async function fsTypeOf(dir) {
  const out = await capture('stat', ['-f', '-c', '%T', dir]).catch(() => undefined); // no coreutils stat: fall back to mounts
  if (out && out.code === 0 && out.stdout.trim()) {
    const statType = out.stdout.trim();
    const mount = await mountOf(dir);
    return mount ? `${mount.type} (${mount.device} on ${mount.mountPoint}; stat -f: ${statType})` : statType;
  }
  const mount = await mountOf(dir);
  return mount ? `${mount.type} (${mount.device} on ${mount.mountPoint})` : 'unknown';
}

/** The /proc/mounts entry with the longest mount point containing `dir`. */
async function mountOf(dir) {
  const text = await fs.readFile('/proc/mounts', 'utf8').catch(() => ''); // not Linux: no mount table
  let best;
  for (const line of text.split('\n')) {
    const [device, mountPoint, type] = line.split(' ');
    if (!mountPoint) continue;
    const mp = mountPoint.replace(/\\040/g, ' ');
    if ((dir === mp || dir.startsWith(mp.endsWith('/') ? mp : `${mp}/`)) && (!best || mp.length > best.mountPoint.length)) {
      best = { device, mountPoint: mp, type };
    }
  }
  return best;
}

/** Runs a command and collects its output. */
export function capture(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Wall time (ms) of a fresh `node` process running `args`, from spawn to exit. Rejects when it
 * exits non-zero, so a broken scenario never reports a fast failure as a result.
 */
export async function timeProcess(args, opts = {}) {
  const start = now();
  const out = await capture(process.execPath, args, opts);
  const ms = now() - start;
  if (out.code !== 0) throw new Error(`node ${args.join(' ')} exited ${out.code}: ${out.stderr.slice(0, 2000)}`);
  return { ms, stdout: out.stdout };
}

/** Logs progress to stderr (stdout belongs to the harness). */
export function progress(message) {
  process.stderr.write(`  · ${message}\n`);
}
