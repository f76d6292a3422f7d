/**
 * What a commit is checked against before its transaction is sent: the revisions its caller
 * expected (`Commit.expect`), and etcd's limits on one request (bytes, operations). Both refuse
 * with nothing written.
 */
import { StaleError, TooLargeError } from '../../errors.js';
import type { Commit } from '../types.js';
import type { Found } from './stage.js';

/** Room left in a request for what is not keys and values (compares, framing). */
const REQUEST_OVERHEAD = 16 * 1024;

/** The key a commit's messages name: its first change, else what it prepares, appends or expects. */
export function firstKey(commit: Commit): string {
  const op = commit.changes?.[0] ?? commit.prepare?.[0] ?? commit.after?.[0];
  if (!op) return commit.expect?.[0]?.key ?? commit.cleanup?.keys[0] ?? '.';
  return op.type === 'copy' || op.type === 'move' ? op.to : op.key;
}

/** `StaleError` unless every expected key is at the revision its caller read (`null`: absent). */
export function checkExpectations(commit: Commit, found: ReadonlyMap<string, Found>, describe: (key: string) => string): void {
  for (const { key, revision } of commit.expect ?? []) {
    const now = found.get(key)?.stored?.revision ?? null;
    if (now === revision) continue;
    throw new StaleError(
      `${describe(key)} changed since it was read (${revision === null ? 'it did not exist' : 'its revision moved on'}); nothing was written. Read it again and retry.`,
      key,
    );
  }
}

/**
 * `E_TOO_LARGE` for a commit over etcd's request size (the whole commit counts) or operation count
 * (of its one transaction, or of the final one when `earlyKeys` new backups went ahead: split.ts).
 */
export function checkLimits(commit: Commit, size: { compares: number; ops: number; bytes: number; earlyKeys?: number | undefined }, limits: { maxRequestBytes: number; maxTxnOps: number }, describe: (key: string) => string): void {
  const where = describe(firstKey(commit));
  if (size.bytes + REQUEST_OVERHEAD > limits.maxRequestBytes) {
    throw new TooLargeError(
      `${where}: this commit is ${size.bytes} bytes, over etcd's request limit of ${limits.maxRequestBytes} (--max-request-bytes; a save also stores its backup and history in the same transaction); nothing was written. Shrink the document or raise the limit on the cluster and in maxRequestBytes.`,
      where,
    );
  }
  const ops = Math.max(size.compares, size.ops);
  if (ops <= limits.maxTxnOps) return;
  const ahead = size.earlyKeys ? `its last transaction (the changes, their history and index lines and every compare; its ${size.earlyKeys} new backup${size.earlyKeys === 1 ? '' : 's'} would go ahead in transactions of their own) needs ${ops} operations` : `this commit needs ${ops} operations in one transaction`;
  throw new TooLargeError(
    `${where}: ${ahead}, over etcd's limit of ${limits.maxTxnOps} (--max-txn-ops); nothing was written. Commit fewer files at once, or raise the limit on the cluster and in maxTxnOps.`,
    where,
  );
}
