/**
 * Who a process is, well enough to tell later whether it is still running: pid, host, the boot it
 * runs in and its start time. A pid alone is not enough — after a reboot (or a long time) another
 * process has the same one — and a modification time judged against the local clock is not either:
 * a clock stepped back makes a dead holder's lock look fresh for the length of the step, a clock
 * ahead makes a live one look stale. Locks and multi-file intents record their owner this way.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { isErrno } from '../../errors.js';

/** A process as recorded in a lock or an intent. */
export interface ProcessIdentity {
  pid: number;
  host: string;
  /** Linux's boot id; absent elsewhere. */
  boot?: string;
  /** Start time of the process in clock ticks since boot (Linux); absent elsewhere. */
  start?: number;
}

let self: ProcessIdentity | undefined;

/** This process. */
export function selfIdentity(): ProcessIdentity {
  if (self && self.pid === process.pid) return self;
  const boot = bootId();
  const start = startTicks(process.pid);
  self = { pid: process.pid, host: os.hostname(), ...(boot ? { boot } : {}), ...(start !== undefined ? { start } : {}) };
  return self;
}

/**
 * Whether the recorded process is still running: `true` or `false` when that can be known on this
 * machine, `undefined` when it cannot (another host, or a system without boot ids), so the caller
 * falls back to watching for signs of life.
 */
export function ownerAlive(owner: ProcessIdentity): boolean | undefined {
  const me = selfIdentity();
  if (owner.host !== me.host) return undefined;
  if (owner.boot === undefined || me.boot === undefined) return undefined;
  if (owner.boot !== me.boot) return false; // the machine rebooted since: every process of then is gone
  if (owner.pid === me.pid) return owner.start === me.start;
  if (!pidExists(owner.pid)) return false;
  const start = startTicks(owner.pid);
  return start === undefined ? true : start === owner.start;
}

/** Parses a recorded identity; `undefined` for anything that is not one. */
export function parseIdentity(value: unknown): ProcessIdentity | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.pid !== 'number' || typeof v.host !== 'string') return undefined;
  return {
    pid: v.pid,
    host: v.host,
    ...(typeof v.boot === 'string' ? { boot: v.boot } : {}),
    ...(typeof v.start === 'number' ? { start: v.start } : {}),
  };
}

/** Whether a process with this pid exists (EPERM: it does, but belongs to someone else). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}

function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id').toString('utf8').trim() || undefined;
  } catch {
    return undefined; // not Linux: owners are judged by signs of life only
  }
}

/** Field 22 of /proc/<pid>/stat (after the parenthesised command name, which may hold spaces). */
function startTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`).toString('utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(fields[19]);
    return Number.isFinite(start) ? start : undefined;
  } catch {
    return undefined; // gone, or no /proc
  }
}
