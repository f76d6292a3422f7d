/**
 * A commit staged against one consistent read of the keys it touches, the way MemoryStorage stages
 * one (same rules: a copy needs its source and a free target, a put keeps the old mode, an append
 * to a document turns it into a journal, cleanup is best effort, a key cannot be both a value and
 * a prefix of others), then turned into ONE etcd transaction whose compares are every key read at
 * the revision it was read: the whole commit applies, or none of it does.
 */
import { randomBytes } from 'node:crypto';
import type { AppendOp, Commit, CopyOp, MoveOp, PutOp, RemoveOp } from '../types.js';
import { prefixEnd, type Compare, type TxnOp } from './client.js';
import { encodeValue, type Layout, type Stored } from './layout.js';

/** What the read phase found for a key: its value (with a journal's records when needed) or nothing. */
export interface Found {
  stored: Stored | undefined;
  /** A journal source's records, in order. */
  records?: Buffer[];
  /** Whether other keys live below it (known for a missing target; the commit compares that it still has none). */
  hasChildren?: boolean;
}

/** A key's state after the commit: a document, a journal, or gone. */
export type Next = null | { kind: 'doc'; bytes: Buffer; mode: number } | { kind: 'journal'; keep: boolean; records: Buffer[]; size: number; mode: number };

/** Every key a commit reads (sources, targets and their parents), for the read phase. */
export function keysOf(commit: Commit): { keys: Set<string>; sources: Set<string>; targets: Set<string> } {
  const keys = new Set<string>();
  const sources = new Set<string>();
  const targets = new Set<string>();
  const target = (key: string): void => {
    targets.add(key);
    keys.add(key);
    const segments = key.split('/');
    for (let i = 1; i < segments.length; i++) keys.add(segments.slice(0, i).join('/'));
  };
  for (const op of [...(commit.prepare ?? []), ...(commit.changes ?? []), ...(commit.after ?? [])]) {
    if (op.type === 'copy' || op.type === 'move') {
      sources.add(op.from);
      keys.add(op.from);
      target(op.to);
    } else if (op.type === 'remove') keys.add(op.key);
    else target(op.key);
  }
  for (const key of commit.cleanup?.keys ?? []) {
    keys.add(key);
    sources.add(key);
  }
  for (const key of commit.cleanup?.keepAs?.values() ?? []) target(key);
  for (const e of commit.expect ?? []) keys.add(e.key);
  return { keys, sources, targets };
}

/** The commit staged on `found`; throws a system-style error (ENOENT, EEXIST, ENOTDIR, EISDIR) like the other backends. */
export class Staging {
  readonly next = new Map<string, Next>();

  constructor(private readonly found: ReadonlyMap<string, Found>) {}

  /** Runs every phase in order, as MemoryStorage does. */
  run(commit: Commit): void {
    for (const op of commit.prepare ?? []) this.apply(op);
    for (const op of commit.changes ?? []) this.apply(op);
    const after = [...(commit.after ?? [])];
    if (commit.cleanup) after.push(...this.cleanup(commit.cleanup));
    for (const op of after) this.apply(op);
  }

  private view(key: string): Next | undefined {
    if (this.next.has(key)) return this.next.get(key) ?? undefined;
    const f = this.found.get(key);
    if (!f?.stored) return undefined;
    const { header, body } = f.stored;
    if (header.g === undefined) return { kind: 'doc', bytes: body, mode: header.m };
    return { kind: 'journal', keep: true, records: [], size: header.s, mode: header.m };
  }

  /** A value's whole content as records (a stored journal's come from the read phase). */
  private contentOf(key: string, v: Next & object): Buffer[] {
    if (v.kind === 'doc') return [v.bytes];
    const before = v.keep ? (this.found.get(key)?.records ?? []) : [];
    return [...before, ...v.records];
  }

  private apply(op: PutOp | CopyOp | AppendOp | RemoveOp | MoveOp): void {
    if (op.type === 'put') {
      this.place(op.key);
      this.next.set(op.key, { kind: 'doc', bytes: Buffer.from(op.data), mode: this.view(op.key)?.mode ?? op.mode ?? 0o644 });
    } else if (op.type === 'append') {
      this.place(op.key);
      const old = this.view(op.key);
      const data = Buffer.from(op.data);
      if (old?.kind === 'journal') this.next.set(op.key, { ...old, records: [...old.records, data], size: old.size + data.length });
      else {
        const records = old ? [old.bytes, data] : [data];
        this.next.set(op.key, { kind: 'journal', keep: false, records, size: records.reduce((n, r) => n + r.length, 0), mode: old?.mode ?? 0o600 });
      }
    } else if (op.type === 'remove') this.next.set(op.key, null);
    else this.transfer(op);
  }

  private transfer(op: CopyOp | MoveOp): void {
    const from = this.view(op.from);
    if (!from) throw errno('ENOENT', `${op.from} does not exist`);
    if (this.view(op.to)) {
      if (op.type === 'copy' && op.ifMissing) return;
      throw errno('EEXIST', `${op.to} exists`);
    }
    this.place(op.to);
    const records = this.contentOf(op.from, from);
    if (from.kind === 'doc') this.next.set(op.to, { kind: 'doc', bytes: from.bytes, mode: from.mode });
    else this.next.set(op.to, { kind: 'journal', keep: false, records, size: records.reduce((n, r) => n + r.length, 0), mode: from.mode });
    if (op.type === 'move') this.next.set(op.from, null);
  }

  private cleanup(cleanup: NonNullable<Commit['cleanup']>): AppendOp[] {
    const removed: string[] = [];
    for (const key of cleanup.keys) {
      const keepAs = cleanup.keepAs?.get(key);
      try {
        if (keepAs !== undefined && this.view(key) && !this.view(keepAs)) this.transfer({ type: 'move', from: key, to: keepAs });
        else this.next.set(key, null);
        removed.push(key);
      } catch {
        // best effort by contract (Commit.cleanup): the key stays for the next pass
      }
    }
    return cleanup.records(removed);
  }

  /** ENOTDIR/EISDIR where a value would sit above or at a prefix other keys live under. */
  private place(key: string): void {
    const segments = key.split('/');
    for (let i = 1; i < segments.length; i++) {
      const parent = segments.slice(0, i).join('/');
      if (this.view(parent)) throw errno('ENOTDIR', `${parent} is not a directory`);
    }
    if (this.view(key)) return;
    const below = `${key}/`;
    for (const [k, v] of this.next) if (k.startsWith(below) && v) throw errno('EISDIR', `${key} is a directory`);
    if (this.found.get(key)?.hasChildren && ![...this.found.keys()].some((k) => k.startsWith(below) && this.next.get(k) === null)) {
      throw errno('EISDIR', `${key} is a directory`);
    }
  }
}

// Drawn once per process: with the time and a counter it keeps commit ids unique across the fleet
// (randomBytes on every commit cost ~50 µs of the main thread before the transaction was sent).
const ID_NONCE = randomBytes(4).toString('hex');
let idCounter = 0;

/**
 * A commit id unique across the fleet: it names the commit's marker and its journal records (the
 * parts of a split commit share one); ids of one process sort in the order they were made.
 */
export function newCommitId(now: number): string {
  idCounter = (idCounter + 1) % 36 ** 4;
  return `${now.toString(36)}-${ID_NONCE}${idCounter.toString(36).padStart(4, '0')}`;
}

/**
 * The transaction's compares (every key read, at its read revision; with `guardChildren`, also that
 * a missing target still has no keys below it) and operations; `commitId` is unique to this commit
 * (given: the parts of one split commit, src/storage/etcd/split.ts).
 */
export function toTxn(layout: Layout, found: ReadonlyMap<string, Found>, next: ReadonlyMap<string, Next>, now: number, opts: { guardChildren?: boolean; commitId?: string } = {}): { compare: Compare[]; ops: TxnOp[]; bytes: number; commitId: string } {
  const compare: Compare[] = [];
  for (const [key, f] of found) {
    compare.push(f.stored ? { key: layout.doc(key), target: 'mod', result: 'equal', value: f.stored.revision } : { key: layout.doc(key), target: 'version', result: 'equal', value: '0' });
    if (opts.guardChildren && f.hasChildren === false) {
      // Staged on older reads (src/storage/etcd/recent.ts): still nothing below a missing target (a
      // compare over a range holds only if every key in it does; an empty range has version 0).
      const below = layout.docs(`${key}/`);
      compare.push({ key: below, rangeEnd: prefixEnd(below), target: 'version', result: 'equal', value: '0' });
    }
  }
  const ops: TxnOp[] = [];
  const commitId = opts.commitId ?? newCommitId(now);
  let bytes = 0;
  for (const [key, value] of next) {
    const old = found.get(key)?.stored;
    const oldGen = old?.header.g;
    if (value === null) {
      if (old) ops.push({ deleteRange: { key: layout.doc(key) } });
      if (oldGen !== undefined) ops.push(rangeDelete(layout.records(key, oldGen)));
      continue;
    }
    if (value.kind === 'doc') {
      const v = encodeValue({ s: value.bytes.length, m: value.mode, t: now }, value.bytes);
      bytes += v.length + key.length;
      ops.push({ put: { key: layout.doc(key), value: v } });
      if (oldGen !== undefined) ops.push(rangeDelete(layout.records(key, oldGen)));
      continue;
    }
    const generation = value.keep && oldGen !== undefined ? oldGen : commitId;
    if (!value.keep && oldGen !== undefined) ops.push(rangeDelete(layout.records(key, oldGen)));
    ops.push({ put: { key: layout.doc(key), value: encodeValue({ s: value.size, m: value.mode, t: now, g: generation }, Buffer.alloc(0)) } });
    value.records.forEach((record, i) => {
      bytes += record.length + key.length * 2;
      ops.push({ put: { key: layout.record(key, generation, `${commitId}.${String(i).padStart(6, '0')}`), value: record } });
    });
  }
  return { compare, ops, bytes, commitId };
}

function rangeDelete(prefix: Buffer): TxnOp {
  const end = Buffer.from(prefix);
  end[end.length - 1]!++; // the prefix ends in `/`; `0` is the next byte
  return { deleteRange: { key: prefix, rangeEnd: end } };
}

/** A system-style error, so messages and codes read like the local backend's (`E_IO` with its errno). */
export function errno(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}
