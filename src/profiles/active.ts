/**
 * The persisted choice of active profile (`useProfile`, `config-persistence profile use`).
 *
 * It lives in `<baseDir>/.active-profile`, a small JSON file (`{"profile":"dev","at":...,"changedBy":...}`)
 * written atomically and durably through storage, with an audit line. A dot-file: it is bookkeeping,
 * not a config document, and no config or profile name can collide with it (names may not start
 * with a dot). Removing the file means "no profile chosen".
 */
import { commitChangeset } from '../changeset/changeset.js';
import { readForOverwrite } from '../changeset/documents.js';
import { sha256, type Context } from '../core/context.js';
import { isPlainObject } from '../document/tree.js';
import { InvalidNameError, ParseError } from '../errors.js';
import { assertProfileName } from '../core/names.js';
import type { ChangedBy } from '../types.js';

/** Storage key of the persisted choice. */
export const ACTIVE_PROFILE_KEY = '.active-profile';

/** The profile last chosen with `useProfile`, or `undefined` when none is. */
export async function readActiveProfile(ctx: Context): Promise<string | undefined> {
  return parseState(ctx, await ctx.storage.read(ACTIVE_PROFILE_KEY, { maxBytes: 64 * 1024 }));
}

/** Sync {@link readActiveProfile}, for `Configuration.openSync`. */
export function readActiveProfileSync(ctx: Context): string | undefined {
  return parseState(ctx, ctx.storage.readSync(ACTIVE_PROFILE_KEY, { maxBytes: 64 * 1024 }));
}

function parseState(ctx: Context, bytes: Uint8Array | undefined): string | undefined {
  if (!bytes) return undefined;
  const file = ctx.storage.describe(ACTIVE_PROFILE_KEY);
  let state: unknown;
  try {
    state = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new ParseError(file, `the active-profile file is not JSON (${(err as Error).message}); choose the profile again with \`config-persistence profile use <name>\` or delete ${file}`, undefined, err);
  }
  const profile = isPlainObject(state) ? state.profile : undefined;
  if (profile === undefined || profile === null) return undefined;
  try {
    return assertProfileName(profile);
  } catch (err) {
    throw new InvalidNameError(`${file} names an invalid profile (${(err as Error).message}); choose the profile again with \`config-persistence profile use <name>\`.`, file);
  }
}

/** Persists the choice (`undefined` clears it) durably, with an audit line. Validate the name first. */
export async function writeActiveProfile(ctx: Context, profile: string | undefined, changedBy: ChangedBy = 'user'): Promise<void> {
  const now = new Date();
  const old = await readForOverwrite(ctx, ACTIVE_PROFILE_KEY);
  const body = profile === undefined ? undefined : Buffer.from(`${JSON.stringify({ profile, at: now.toISOString(), changedBy: String(changedBy) }, null, 2)}\n`);
  // Bookkeeping, not a document: no backup and no history, only the audit line.
  await commitChangeset(ctx, {
    files: [{ key: ACTIVE_PROFILE_KEY, ...(body ? { next: { bytes: body, sha256: sha256(body) } } : {}), old, operation: 'use-profile' }],
    changedBy,
    now,
    audit: () => ({ op: 'use-profile', file: ACTIVE_PROFILE_KEY, details: { profile: profile ?? null } }),
  });
}
