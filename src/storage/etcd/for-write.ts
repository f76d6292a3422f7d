/**
 * Reads for a write (Storage.readForWrite): the reads a single-file save makes before its commit —
 * the document, its journal's stat, the backup index's stat, a free backup name — answered from
 * what this storage's own last commit wrote, without a call to etcd. A burst of saves from one
 * process then makes one call each (the commit) instead of two, and its watchers hear it one
 * round trip sooner.
 *
 * Why that is safe: the commit that follows compares every key it is staged on (its mod revision,
 * or that it is still absent), so a stale answer fails its transaction; a commit staged on such
 * answers is then never staged again behind its caller's back (its plan — the version number, the
 * backup — rests on them) but refused with `StaleError`, which the optimistic write retries with
 * fresh reads (the keys of a failed commit are forgotten first). Loads (`loadConfig`, `read`)
 * never run in a scope: they stay linearizable.
 *
 * The scope travels with the storage, not with the async context: a write's reads and its commit
 * go through a view of the storage that carries it ({@link WriteScopes.view}), which the caller
 * hands down (the Store gives the save a context whose storage is that view). AsyncLocalStorage
 * did this before, and turned on Node 20's promise hooks for the whole process: +80–140 µs of main
 * thread per bare etcd put in the same process, every promise of the application paying too.
 *
 * What a scope answers, for the lookups made together (one turn of the event loop):
 * - every key this storage just read (within a second) or its own commit wrote (within
 *   {@link FOR_WRITE_MS}): from that;
 * - when every content read among them is a document its own commit wrote, a `stat` of a key it
 *   knows nothing of (the new backup's name): absent, which the commit's compare checks;
 * - anything else: the whole batch is read from etcd, as outside a scope.
 */
import { overriding } from '../../core/views.js';
import type { Looked } from './batch.js';
import type { Found } from './stage.js';
import { FOR_WRITE_MS, type RecentReads } from './recent.js';

export { FOR_WRITE_MS };

/** One read waiting for its batch's decision: an answer, or `undefined` (read it from etcd). */
interface Pending {
  key: string;
  content: boolean;
  resolve(looked: Looked | undefined): void;
}

/** One write's reads, until its commit starts. */
export interface WriteScope {
  /** Some answer came from memory: a failed compare is this commit's caller's to retry. */
  speculated: boolean;
  /** The revision each key answered from memory had (`null`: absent): a fresh read must agree. */
  answers: Map<string, string | null>;
  /** Its commit has started: later reads and commits in the same async context are ordinary. */
  done: boolean;
  pending: Pending[];
}

/** Where a view made by {@link WriteScopes.view} keeps its scope. */
const SCOPE = Symbol('config-persistence write scope');

/** The scopes of one EtcdStorage. */
export class WriteScopes {
  constructor(
    private readonly recent: RecentReads,
    /** The revision this storage has applied: what an answer from memory says it was read at. */
    private readonly applied: () => string,
  ) {}

  /**
   * A view of `storage` with a new scope: its methods run on the storage itself (a property set
   * through the view lands on the storage), and they find the scope with {@link take} and
   * {@link look}, given the view as `owner`.
   */
  view<S extends object>(storage: S): S {
    const scope: WriteScope = { speculated: false, answers: new Map(), done: false, pending: [] };
    return overriding(storage, SCOPE, scope);
  }

  /** The scope a commit made now through `owner` belongs to (and ends), if any. */
  take(owner: object): WriteScope | undefined {
    const scope = scopeOf(owner);
    if (!scope || scope.done) return undefined;
    scope.done = true;
    return scope;
  }

  /**
   * The answer from memory for a read (`content`: bytes wanted, else a stat) made through `owner`
   * in an open scope, or `undefined`: read it from etcd (outside a scope, at once).
   */
  look(owner: object, key: string, content: boolean): Promise<Looked | undefined> {
    const scope = scopeOf(owner);
    if (!scope || scope.done) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      if (scope.pending.length === 0) setImmediate(() => this.decide(scope)); // as Lookups batches: the lookups of one turn together
      scope.pending.push({ key, content, resolve });
    });
  }

  private decide(scope: WriteScope): void {
    const batch = scope.pending.splice(0);
    const hits = batch.map((p) => this.recent.forWrite(p.key));
    // A journal's records are not kept in memory: its content is read from etcd.
    const usable = (i: number): boolean => {
      const hit = hits[i]?.found;
      if (!hit || (!hit.stored && hit.hasChildren === undefined)) return false; // absent, but a directory or not?
      return !(batch[i]!.content && hit.stored?.header.g !== undefined);
    };
    const contents = batch.map((p, i) => [p, i] as const).filter(([p]) => p.content);
    const allHit = batch.every((_, i) => usable(i));
    const ownDocument = contents.length > 0 && contents.every(([, i]) => usable(i) && hits[i]!.own);
    const guessAbsent = ownDocument && batch.every((p, i) => usable(i) || !p.content);
    if (!allHit && !guessAbsent) {
      for (const p of batch) p.resolve(undefined);
      return;
    }
    scope.speculated = true;
    const revision = this.applied();
    batch.forEach((p, i) => {
      const found: Found = usable(i) ? hits[i]!.found : { stored: undefined, hasChildren: false };
      if (!usable(i)) this.recent.note(p.key, found); // the commit is staged on it (and compares it)
      scope.answers.set(p.key, found.stored?.revision ?? null);
      p.resolve({ stored: found.stored, revision, hasChildren: found.hasChildren ?? false });
    });
  }
}

function scopeOf(owner: object): WriteScope | undefined {
  return (owner as { [SCOPE]?: WriteScope })[SCOPE];
}
