/**
 * Group commit for directory fsyncs: concurrent commits of different files in one directory share
 * one fsync of it instead of queueing one each on libuv's four threads (16 saves issued together
 * made 16 fsyncs of the base directory and 16 of `history/objects`, each a device flush on ext4
 * without a journal).
 *
 * The rule that keeps it exact: an fsync of a directory makes durable every entry change (rename,
 * link, unlink) made in it *before the fsync started*. So a caller whose directory has no fsync in
 * flight starts one at once; a caller that finds one in flight cannot use it (its rename may have
 * come after that fsync began) and joins the *next* one, which starts as soon as the one in flight
 * settles and serves everyone who joined meanwhile. A failed fsync rejects every caller it serves.
 *
 * Directories are told apart by device and inode (an fstat of the caller's descriptor), not by
 * path: a directory replaced at the same path is another directory and never shares.
 */
import { fstatSync, fsync } from 'node:fs';
import { promisify } from 'node:util';

const fsyncAsync = promisify(fsync);

/** One directory's fsyncs: the one in flight and the next one callers are gathering for. */
interface Lane {
  running: Promise<void> | undefined;
  /** Starts once `running` settles, with the first joiner's descriptor. */
  next: Promise<void> | undefined;
}

const lanes = new Map<string, Lane>();

/**
 * fsync of the directory open at `fd`, shared with concurrent callers for the same directory.
 * Resolves once an fsync that started after this call returned has succeeded. `fd` must stay
 * open until the returned promise settles (the shared fsync may be made with it).
 */
export function syncDirectoryShared(fd: number, known?: string): Promise<void> {
  // `known`: the caller's `dev:ino` of `fd` (a kept descriptor, see dir-handles.ts), saving the fstat.
  let key = known;
  if (key === undefined) {
    const st = fstatSync(fd);
    key = `${st.dev}:${st.ino}`;
  }
  let lane = lanes.get(key);
  if (lane === undefined) {
    lane = { running: undefined, next: undefined };
    lanes.set(key, lane);
  }
  if (lane.running === undefined) return start(lane, key, fd);
  if (lane.next !== undefined) return lane.next; // gathered for an fsync that has not started yet
  const after = lane.running;
  const joined = after.then(settled, settled).then(() => {
    lane.next = undefined;
    return start(lane, key, fd);
  });
  lane.next = joined;
  return joined;
}

function settled(): void {
  // Only the order matters here: the next fsync starts once the one in flight has returned,
  // whatever it returned (its callers get its result, not the next one's).
}

/** Starts the fsync of `fd` as the lane's running one; the lane is dropped once nothing waits on it. */
function start(lane: Lane, key: string, fd: number): Promise<void> {
  const running = fsyncAsync(fd);
  lane.running = running;
  const done = (): void => {
    if (lane.running !== running) return;
    lane.running = undefined;
    if (lane.next === undefined && lanes.get(key) === lane) lanes.delete(key);
  };
  running.then(done, done);
  return running;
}
