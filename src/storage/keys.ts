/**
 * What a storage key may look like, checked the same way by every backend so that a key valid on
 * one is valid on all (and none can name something outside the storage root).
 */
import path from 'node:path';
import { InvalidNameError } from '../errors.js';
import type { Commit } from './types.js';

/** The `/`-separated segments of a valid storage key; anything else is `E_INVALID_NAME`. */
export function keySegments(key: string): string[] {
  if (typeof key !== 'string' || key.includes('\0') || key.includes('\\') || path.isAbsolute(key)) {
    throw new InvalidNameError(`Invalid storage key ${JSON.stringify(String(key))}: it must be a relative name.`);
  }
  const segments = key.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new InvalidNameError(`Invalid storage key ${JSON.stringify(key)}: empty, "." and ".." segments are not allowed.`);
  }
  return segments;
}

/**
 * Checks every key a commit names (its operations, expectations and cleanup) before a key-value
 * backend stages anything, so a bad key is `E_INVALID_NAME` with nothing written.
 */
export function validateCommitKeys(commit: Commit): void {
  for (const op of [...(commit.prepare ?? []), ...(commit.changes ?? []), ...(commit.after ?? [])]) {
    if (op.type === 'copy' || op.type === 'move') {
      keySegments(op.from);
      keySegments(op.to);
    } else keySegments(op.key);
  }
  for (const e of commit.expect ?? []) keySegments(e.key);
  for (const key of commit.cleanup?.keys ?? []) keySegments(key);
  for (const key of commit.cleanup?.keepAs?.values() ?? []) keySegments(key);
}
