/**
 * Every error this library throws extends {@link ConfigPersistenceError} and carries a stable `code`.
 * Callers branch on `code` (or `instanceof`), never on message text: messages may improve, codes don't.
 */

/** The stable error codes. */
export type ErrorCode =
  | 'E_PARSE'
  | 'E_VALIDATION'
  | 'E_NOT_FOUND'
  | 'E_INVALID_NAME'
  | 'E_CONFLICT'
  | 'E_LOCKED'
  | 'E_CHECKSUM'
  | 'E_TOO_LARGE'
  | 'E_UNSUPPORTED'
  | 'E_IO'
  | 'E_CLOSED';

/** Base class of every error thrown by config-persistence. */
export class ConfigPersistenceError extends Error {
  readonly code: ErrorCode;
  /** The file (relative to the base directory, or as given) the error is about, when there is one. */
  readonly file?: string;

  constructor(code: ErrorCode, message: string, options?: { file?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    if (options?.file !== undefined) this.file = options.file;
  }
}

/** A document could not be parsed; `line` and `column` are 1-based. */
export class ParseError extends ConfigPersistenceError {
  readonly line?: number;
  readonly column?: number;

  constructor(file: string, reason: string, position?: { line: number; column: number }, cause?: unknown) {
    const where = position ? `${file}:${position.line}:${position.column}` : file;
    super('E_PARSE', `${where} cannot be parsed: ${reason}. Fix the syntax at that position (or restore a backup).`, {
      file,
      cause,
    });
    if (position) {
      this.line = position.line;
      this.column = position.column;
    }
  }
}

/** One schema violation. `line`/`column` are present when the source text is known. */
export interface ValidationIssue {
  /** Dot path of the offending value ('' for the root). */
  path: string;
  message: string;
  /** The ajv keyword that failed (`maximum`, `required`, ...). */
  keyword?: string;
  /** The offending value, when there is one. */
  value?: unknown;
  line?: number;
  column?: number;
}

/**
 * A document does not match its JSON Schema (or what else it is checked `against`: the directory
 * settings format, what a JSON file can hold). Lists every issue, not only the first. The message
 * does not say whether anything was written: the same error reports a refused save and a failed
 * load (a refused write never writes, by the rules in the README).
 */
export class ValidationError extends ConfigPersistenceError {
  readonly issues: ValidationIssue[];

  constructor(file: string, issues: ValidationIssue[], against = 'the schema') {
    const lines = issues.map((issue) => {
      const where = issue.line !== undefined ? `${file}:${issue.line}:${issue.column ?? 1}` : file;
      return `  ${where} ${issue.path || '(root)'} ${issue.message}`;
    });
    super(
      'E_VALIDATION',
      `${file} does not match ${against} (${issues.length} issue${issues.length === 1 ? '' : 's'}):\n${lines.join('\n')}\nFix the values above.`,
      { file },
    );
    this.issues = issues;
  }
}

/** A file, profile, backup or version does not exist. */
export class NotFoundError extends ConfigPersistenceError {
  constructor(message: string, file?: string) {
    super('E_NOT_FOUND', message, { file });
  }
}

/** A name (file, profile, backup id, dot path segment) is unsafe or malformed. */
export class InvalidNameError extends ConfigPersistenceError {
  constructor(message: string, file?: string) {
    super('E_INVALID_NAME', message, { file });
  }
}

/** Optimistic concurrency failed: the file moved on since the version the caller read. */
export class ConflictError extends ConfigPersistenceError {
  readonly expectedVersion?: number;
  readonly actualVersion?: number;

  constructor(message: string, file?: string, versions?: { expected?: number; actual?: number }) {
    super('E_CONFLICT', message, { file });
    if (versions?.expected !== undefined) this.expectedVersion = versions.expected;
    if (versions?.actual !== undefined) this.actualVersion = versions.actual;
  }
}

/**
 * A commit based on a state that is no longer current: another writer changed the file since it
 * was read (a stalled or clock-skewed lock holder, a lock taken over). Nothing was written;
 * `update()` retries on it by running its function again on the fresh document.
 */
export class StaleError extends ConflictError {}

/** A cross-process lock could not be acquired in time. */
export class LockedError extends ConfigPersistenceError {
  constructor(message: string, file?: string, cause?: unknown) {
    super('E_LOCKED', message, { file, cause });
  }
}

/**
 * `E_LOCKED` from a commit that went without a lock another process holds (Commit.respectLocks on
 * an optimistic backend): nothing was written; the writer takes the lock and tries again.
 */
export class HeldLockError extends LockedError {}

/** The instance was closed: create a new one. Not an I/O failure — nothing was attempted. */
export class ClosedError extends ConfigPersistenceError {
  constructor(message: string) {
    super('E_CLOSED', message);
  }
}

/** Stored content does not match its recorded checksum (a tampered or truncated backup or bundle). */
export class ChecksumError extends ConfigPersistenceError {
  /** What is wrong, without the advice for the operation that found it (verify reports this). */
  readonly problem: string;

  /** `advice` is what the failed operation tells its caller to do; the message is problem + advice. */
  constructor(problem: string, file?: string, advice?: string) {
    super('E_CHECKSUM', advice ? `${problem} ${advice}` : problem, { file });
    this.problem = problem;
  }
}

/** A file or document is larger than `maxFileBytes` or another safety limit. */
export class TooLargeError extends ConfigPersistenceError {
  constructor(message: string, file?: string) {
    super('E_TOO_LARGE', message, { file });
  }
}

/** A system call failed. `syscallCode` keeps the system's own code (`ENOSPC`, `EACCES`, ...). */
export class IOError extends ConfigPersistenceError {
  readonly syscallCode?: string;
  readonly syscall?: string;

  constructor(message: string, file?: string, cause?: unknown) {
    super('E_IO', message, { file, cause });
    const sys = cause as NodeJS.ErrnoException | undefined;
    if (sys?.code) this.syscallCode = sys.code;
    if (sys?.syscall) this.syscall = sys.syscall;
  }
}

const IO_HINTS: Record<string, string> = {
  ENOSPC: 'the disk is full: free space and retry',
  EDQUOT: 'the disk quota is exhausted: free space and retry',
  EACCES: 'permission denied: check the owner and mode of the directory',
  EPERM: 'operation not permitted: check permissions and immutable attributes',
  EROFS: 'the file system is read-only: remount it read-write or choose another directory',
  EIO: 'the device reported an I/O error: check the disk; the previous content was kept',
  EXDEV: 'the temporary file ended up on another device: keep the directory on one file system',
  EMFILE: 'too many open files: raise the limit or close handles',
};

/**
 * Wraps a system error as `E_IO` with a message that names the file and says what to do.
 * Our own coded errors pass through untouched so that the code thrown first wins.
 */
export function ioError(action: string, file: string, cause: unknown): ConfigPersistenceError {
  if (cause instanceof ConfigPersistenceError) return cause;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const hint = (code && IO_HINTS[code]) || 'the previous content was kept';
  const reason = code ?? (cause instanceof Error ? cause.message : String(cause));
  return new IOError(`Cannot ${action} ${file} (${reason}): ${hint}.`, file, cause);
}

/** True for a system error with the given errno code. */
export function isErrno(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code;
}

/** Why an encrypted object could not be opened (or sealed): see {@link DecryptionError}. */
export type DecryptionReason = 'no-key' | 'wrong-key' | 'damaged' | 'not-encrypted';

/**
 * An encrypted backup, history version, snapshot, live file or bundle cannot be decrypted (or a
 * process cannot encrypt for its directory): no key was given (`no-key`), the key is not the one
 * it was encrypted with (`wrong-key`), its bytes were changed or cut (`damaged`: GCM's tag does
 * not match), or it is plain where the directory keeps everything encrypted (`not-encrypted`).
 * Never garbage data: nothing is returned and nothing is written. `object` names what failed
 * (`config/backups/current.20261123T081218.123Z.yaml`, `the bundle`).
 */
export class DecryptionError extends ChecksumError {
  readonly reason: DecryptionReason;
  readonly object: string;

  constructor(reason: DecryptionReason, object: string, problem: string, advice?: string) {
    super(problem, object, advice);
    this.reason = reason;
    this.object = object;
  }
}
