/**
 * A commit over etcd's operation limit (`--max-txn-ops`), split where that keeps it all-or-nothing.
 *
 * Only what nobody can depend on before the commit lands goes ahead: the new objects its
 * `prepare` marks `unreferenced` (a backup's bytes under a fresh id, named only by the index line
 * this same commit appends). They are written in *early parts*, each one transaction of its own;
 * the *final* transaction carries everything else — every compare (the keys read, `expect`,
 * fences, `respectLocks`, the lost-answer marker of outcome.ts), every change, every journal and
 * index line — so what readers see changed is still one atomic transaction. When the final part
 * alone is over the limit the commit is refused with `E_TOO_LARGE` before anything is written.
 *
 * Each early part also puts a record `.parts/<commit id>.<n>` (a protocol key, hidden like every
 * dot name) listing the keys it wrote, and the first part a key `<prefix>p/<commit id>` on this
 * process's kept-alive lease. The final transaction compares that every record is still at the
 * revision its part wrote and deletes them all with the lease key, so:
 *
 * - the final lands → no record is left, the early keys are the commit's own;
 * - the final fails (a compare, an answer lost and found not applied) → the writer removes its
 *   parts itself (the commit is then staged again, or the error reported);
 * - the writer dies, or the final's outcome stayed unknown → the records stay. `findings()`
 *   reports each as `stray-temp` once its lease key is gone (the writer's lease expired) or it is
 *   older than {@link ABANDONED_AFTER_MS}; repair removes the record with the keys still at the
 *   revision it wrote them (one commit each). Removing a record makes a final transaction still
 *   in flight fail its compare: it can never land on removed backups.
 */
import type { Commit, StorageFinding } from '../types.js';
import { prefixEnd, type Compare, type EtcdClient, type TxnOp, type TxnResult } from './client.js';
import { ConfigPersistenceError } from '../../errors.js';
import { etcdError } from './errors.js';
import { sendMarked, type Sender } from './outcome.js';
import { decodeValue, encodeValue, type Layout } from './layout.js';
import { toTxn, type Found, type Next } from './stage.js';

/** Where the records of early parts live (a protocol key: repair's commits can remove them). */
export const PARTS_DIR = '.parts';
/** A record older than this is reported even while its writer's lease lives (its final's outcome stayed unknown). */
export const ABANDONED_AFTER_MS = 10 * 60 * 1000;

/** One early transaction: its compares (its keys are still absent) and puts. */
export interface EarlyPart {
  record: string;
  keys: string[];
  compare: Compare[];
  ops: TxnOp[];
}

/** A commit split in parts: early ones first, then the final one. */
export interface SplitPlan {
  early: EarlyPart[];
  final: { compare: Compare[]; ops: TxnOp[] };
}

/** What a record says (its body). */
interface PartRecord {
  commit: string;
  part: number;
  keys: string[];
  t: number;
}

/**
 * The keys a split may write early: targets of `unreferenced` prepare puts and copies that are
 * absent now and that nothing else in the commit touches, reads or expects.
 */
export function earlyKeys(commit: Commit, found: ReadonlyMap<string, Found>, next: ReadonlyMap<string, Next>): Set<string> {
  const early = new Set<string>();
  for (const op of commit.prepare ?? []) if ((op.type === 'put' || op.type === 'copy') && op.unreferenced) early.add(op.type === 'copy' ? op.to : op.key);
  const other: string[] = [...(commit.expect ?? []).map((e) => e.key), ...(commit.cleanup?.keys ?? []), ...(commit.cleanup?.keepAs?.values() ?? [])];
  for (const op of [...(commit.prepare ?? []), ...(commit.changes ?? []), ...(commit.after ?? [])]) {
    if ((op.type === 'put' || op.type === 'copy') && op.unreferenced) {
      if (op.type === 'copy') other.push(op.from);
      continue;
    }
    if (op.type === 'copy' || op.type === 'move') other.push(op.from, op.to);
    else other.push(op.key);
  }
  for (const key of other) early.delete(key);
  for (const key of early) if (found.get(key)?.stored || !next.get(key)) early.delete(key);
  return early;
}

/**
 * Splits the staged commit: the early keys in parts of at most `maxTxnOps` operations (each with
 * its record, the first with the lease key), the rest in the final transaction with the records'
 * compares and removal. `undefined` when nothing can go early.
 */
export function splitTxn(
  layout: Layout,
  commit: Commit,
  staged: { found: ReadonlyMap<string, Found>; next: ReadonlyMap<string, Next> },
  txn: { commitId: string; now: number; guardChildren: boolean; lease: string; maxTxnOps: number },
): SplitPlan | undefined {
  const { found, next } = staged;
  const early = earlyKeys(commit, found, next);
  if (early.size === 0) return undefined;
  const pick = <V>(map: ReadonlyMap<string, V>, inEarly: boolean): Map<string, V> => new Map([...map].filter(([k]) => early.has(k) === inEarly));
  const opts = { guardChildren: txn.guardChildren, commitId: txn.commitId };
  const rest = toTxn(layout, pick(found, false), pick(next, false), txn.now, opts);
  const parts: EarlyPart[] = [];
  let current: EarlyPart | undefined;
  for (const key of early) {
    const one = toTxn(layout, new Map([[key, found.get(key) ?? { stored: undefined }]]), new Map([[key, next.get(key)!]]), txn.now, opts);
    const room = txn.maxTxnOps - 3; // its record, the first part's lease key and its lost-answer marker
    if (!current || current.ops.length + one.ops.length > room || current.compare.length + one.compare.length > txn.maxTxnOps - 2) {
      if (one.ops.length > room) return undefined; // one key alone does not fit a part: leave it to the final
      current = { record: `${PARTS_DIR}/${txn.commitId}.${parts.length}`, keys: [], compare: [], ops: [] };
      parts.push(current);
    }
    current.keys.push(key);
    current.compare.push(...one.compare);
    current.ops.push(...one.ops);
  }
  for (const part of parts) {
    const body: PartRecord = { commit: txn.commitId, part: parts.indexOf(part), keys: part.keys, t: txn.now };
    const bytes = Buffer.from(JSON.stringify(body));
    part.compare.push({ key: layout.doc(part.record), target: 'version', result: 'equal', value: '0' });
    part.ops.push({ put: { key: layout.doc(part.record), value: encodeValue({ s: bytes.length, m: 0o600, t: txn.now }, bytes) } });
  }
  parts[0]!.ops.push({ put: { key: layout.alive(txn.commitId), value: Buffer.from(String(process.pid)), lease: txn.lease } });
  const records = layout.docs(`${PARTS_DIR}/${txn.commitId}.`);
  rest.ops.push({ deleteRange: { key: records, rangeEnd: prefixEnd(records) } }, { deleteRange: { key: layout.alive(txn.commitId) } });
  return { early: parts, final: { compare: rest.compare, ops: rest.ops } };
}

/** The compares the final transaction adds: every record still at the revision its part wrote. */
export function recordCompares(layout: Layout, landed: readonly Landed[]): Compare[] {
  return landed.map(({ part, revision }) => ({ key: layout.doc(part.record), target: 'mod', result: 'equal', value: revision }));
}

/**
 * The transaction that takes back a part that landed at `revision`: its record and its keys, if
 * all are still as it wrote them (otherwise nothing: findings() sorts it out key by key).
 */
export function dropPart(layout: Layout, part: EarlyPart, revision: string, commitId: string): { compare: Compare[]; ops: TxnOp[] } {
  const keys = [part.record, ...part.keys];
  const ops: TxnOp[] = keys.map((k) => ({ deleteRange: { key: layout.doc(k) } }));
  ops.push({ deleteRange: { key: layout.alive(commitId) } }); // the first part's; gone already after a later one
  return { compare: keys.map((k) => ({ key: layout.doc(k), target: 'mod', result: 'equal', value: revision })), ops };
}

/** A part that landed, at the revision of its transaction. */
export interface Landed {
  part: EarlyPart;
  revision: string;
}

/**
 * Sends a split commit's early parts one by one: the revision each landed at, or `undefined` when
 * one found a key taken (the parts sent are taken back first). Each part carries a lost-answer
 * marker of its own (outcome.ts), so a part whose answer is lost is known to have landed (and the
 * commit goes on) or not (the parts that did are taken back, and it is `E_IO` "nothing was
 * written"); only when no member can say does a part stay for verify to report once its writer's
 * lease is gone.
 */
export async function sendEarly(sender: Sender, layout: Layout, parts: readonly EarlyPart[], how: { commitId: string; applied(revision: string): void }): Promise<Landed[] | undefined> {
  const landed: Landed[] = [];
  const drop = (): Promise<void> => dropEarly(sender.client, layout, how.commitId, landed);
  for (const [i, part] of parts.entries()) {
    let known = false;
    let res: Pick<TxnResult, 'succeeded' | 'revision'>;
    try {
      res = await sendMarked(sender, `${how.commitId}.p${i}`, part, async () => {
        known = true;
        await drop();
      });
    } catch (err) {
      if (!known) await drop(); // the parts known to have landed; this one is verify's if it did
      throw err instanceof ConfigPersistenceError ? err : etcdError('write', sender.where, err, 'unsent');
    }
    if (!res.succeeded) {
      await drop();
      return undefined;
    }
    how.applied(res.revision);
    landed.push({ part, revision: res.revision });
  }
  return landed;
}

/** Takes back the early parts of a commit whose final transaction did not land (best effort). */
export async function dropEarly(client: EtcdClient, layout: Layout, commitId: string, landed: readonly Landed[]): Promise<void> {
  for (const { part, revision } of landed) {
    const { compare, ops } = dropPart(layout, part, revision, commitId);
    // A part that cannot be taken back now stays for verify/repair, which find it by its record.
    await client.txn(compare, ops).catch(() => undefined);
  }
}

/** What findings() needs to read: the records, each key's revision, whether a lease key lives. */
export interface PartsView {
  records: Array<{ key: string; revision: string; value: Buffer }>;
  revisionOf(key: string): Promise<string | undefined>;
  alive(commitId: string): Promise<boolean>;
}

/** The abandoned early parts, each with the commit that removes it and what it wrote (see the file's comment). */
export async function abandonedParts(view: PartsView, describe: (key: string) => string, now = Date.now()): Promise<StorageFinding[]> {
  const out: StorageFinding[] = [];
  const alive = new Map<string, boolean>();
  for (const rec of view.records) {
    const body = parseRecord(decodeValue(rec.value, rec.revision).body);
    if (body && now - body.t < ABANDONED_AFTER_MS) {
      if (!alive.has(body.commit)) alive.set(body.commit, await view.alive(body.commit));
      if (alive.get(body.commit)) continue; // its writer is still at it
    }
    const own: string[] = [];
    for (const key of body?.keys ?? []) if ((await view.revisionOf(key)) === rec.revision) own.push(key);
    const list = own.length > 0 ? ` and ${own.map(describe).join(', ')}` : '';
    out.push({
      key: rec.key,
      kind: 'stray-temp',
      message: `${describe(rec.key)} records the first transaction${list} of a commit too large for one etcd transaction whose last transaction never landed (its writer is gone or lost its answer); no file was affected. Repair removes ${own.length > 0 ? 'them' : 'it'}.`,
      fix: {
        action: 'remove-temp',
        description: `remove ${[rec.key, ...own].map(describe).join(', ')}`,
        commit: {
          expect: [rec.key, ...own].map((key) => ({ key, revision: rec.revision })),
          changes: [rec.key, ...own].map((key) => ({ type: 'remove' as const, key })),
        },
      },
    });
  }
  return out;
}

function parseRecord(body: Buffer): PartRecord | undefined {
  try {
    const parsed = JSON.parse(body.toString()) as Partial<PartRecord>;
    if (typeof parsed.commit === 'string' && Array.isArray(parsed.keys) && typeof parsed.t === 'number') return parsed as PartRecord;
  } catch {
    // damaged: reported at once, and its removal is all repair can do (the keys it named are unknown)
  }
  return undefined;
}
