/**
 * How etcd's failures reach the caller: each becomes `E_IO` naming the key and the endpoints, with
 * what is known (unreachable, no quorum, refused credentials; for a commit whose answer was lost,
 * whether it was applied) and what to do; and which failures a read may simply try again.
 */
import { ConfigPersistenceError, ioError } from '../../errors.js';

/** A read is tried this many times in all; the backoffs (~100, 200, 400 ms) span a leader election. */
export const READ_ATTEMPTS = 4;
export const READ_BACKOFF_MS = 100;
/** How many times the outcome of a commit whose answer was lost is asked (with the reads' backoff) before it is called unknown. */
export const OUTCOME_ATTEMPTS = 4;

/**
 * A failure that a retry soon after can cure: an election under way, a member's connection reset.
 * Not a deadline: that call already waited the whole timeout, and deadlines in a row open the
 * circuit breaker of the member still answering (see client.ts), which would cost the stale reads
 * that still work without a quorum.
 */
export function isTransient(err: ConfigPersistenceError): boolean {
  const message = (err.cause as Error | undefined)?.message ?? '';
  return !/deadline|circuit breaker/i.test(message) && /leader changed|no leader|UNAVAILABLE|ECONNRESET|not leader/i.test(message);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * An etcd failure as `E_IO`: unreachable, no quorum, refused credentials (EACCES), and what to do.
 * `outcome` says what is known of a commit's transaction: never sent (or refused), lost and then
 * found not applied, or lost and unknown.
 */
export function etcdError(action: string, where: string, err: unknown, outcome: 'unsent' | 'not-applied' | 'unknown' = 'unsent'): ConfigPersistenceError {
  const message = err instanceof Error ? err.message : String(err);
  const name = err instanceof Error ? err.constructor.name : '';
  const auth = isAuthFailure(err);
  const code = auth ? 'EACCES' : /deadline|unavailable|connect|timed? ?out|No connection|leader/i.test(message + name) ? 'ETIMEDOUT' : 'EIO';
  const hint = auth
    ? 'etcd refused the credentials: check auth.username/password and the user\'s roles'
    : outcome === 'unknown'
      ? `the transaction was sent but its answer was lost, and no member could tell within ${OUTCOME_ATTEMPTS} tries whether etcd applied it (the outcome is unknown): read the key again before retrying; check that the members are running and reachable`
      : outcome === 'not-applied'
        ? 'the transaction\'s answer was lost, and etcd confirmed that it was not applied and can no longer apply: nothing was written, and retrying is safe'
        : refused(err)
          ? 'etcd refused the request for the reason given, not for want of a member: nothing was written'
          : 'etcd did not answer in time or has no quorum: check that the members are running and reachable; nothing was written';
  const cause = Object.assign(new Error(`${code}: ${message}`), { code, cause: err });
  const wrapped = ioError(action, where, cause);
  wrapped.message = `Cannot ${action} ${where} (${code}: ${message}): ${hint}.`;
  return wrapped;
}

/** etcd refused the credentials or the user's permissions. */
export function isAuthFailure(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  const name = err instanceof Error ? err.constructor.name : '';
  return /Authentication|InvalidAuthToken|PermissionDenied|Unauthenticated/.test(name) || /authentication failed|permission denied|invalid auth/i.test(message);
}

/**
 * etcd's own answer refusing the request (too large, too many operations, a lease it no longer
 * has, a full database): a definite "not applied", unlike a lost answer. A message over the
 * client's receive limit is not one: that is an answer, to a request etcd may have applied.
 */
export function refused(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /INVALID_ARGUMENT|FAILED_PRECONDITION|OUT_OF_RANGE/.test(message) || (/RESOURCE_EXHAUSTED/.test(message) && !/Received message larger/i.test(message));
}

/** A failure that shows the request never reached a member: nothing can have been applied. */
export function notSent(message: string): boolean {
  return /No connection established|ECONNREFUSED|ECONNRESET before|circuit breaker/i.test(message);
}
