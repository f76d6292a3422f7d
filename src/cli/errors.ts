/**
 * How the command line reports failures: exit codes, the `E_CODE: message` line on stderr and a
 * hint of what to do next.
 */
import { CommanderError } from 'commander';
import { ConfigPersistenceError, ConflictError, ValidationError } from '../errors.js';
import { SETTINGS_FILE } from '../core/names.js';

/** Exit codes: 0 success, 1 a problem found or an operation failed, 2 bad usage. */
export const EXIT = { ok: 0, problem: 1, usage: 2 } as const;

/** Codes the CLI adds to the library's own. */
export type CliErrorCode = 'E_USAGE' | 'E_ABORTED' | 'E_CONFIRM' | 'E_INTERNAL';

/** A failure of the command line itself (bad usage, a refused confirmation). */
export class CliError extends Error {
  readonly code: CliErrorCode;
  readonly exitCode: number;
  readonly hint: string | undefined;

  constructor(code: CliErrorCode, message: string, opts: { exitCode?: number; hint?: string } = {}) {
    super(message);
    this.name = 'CliError';
    this.code = code;
    this.exitCode = opts.exitCode ?? (code === 'E_USAGE' ? EXIT.usage : EXIT.problem);
    this.hint = opts.hint;
  }
}

/** Bad usage: exit code 2. */
export function usageError(message: string, hint?: string): CliError {
  return new CliError('E_USAGE', message, { exitCode: EXIT.usage, ...(hint ? { hint } : {}) });
}

/** Commands that change the directory: only their failures may say "nothing was written". */
const WRITING = new Set(['set', 'profile save', 'profile use', 'profile delete', 'backup create', 'backup restore', 'backup delete', 'backup prune', 'rollback', 'import', 'repair', 'init']);

/** What the failing command was, for a hint that fits it (`profile show`, `import`). */
export interface ReportContext {
  command?: string;
}

/**
 * What to do next for a library error. The library's message already names the file and, where
 * only it knows, what to do (a bundle to export again, a profile still extended by another); the
 * hint adds what the command line knows, and nothing that contradicts the message.
 */
function hintFor(err: ConfigPersistenceError, context: ReportContext): string | undefined {
  const command = context.command ?? '';
  const unchanged = WRITING.has(command) ? '; nothing was written' : '';
  switch (err.code) {
    case 'E_PARSE':
      if (command === 'import') return 'fix the bundle file or export it again';
      if (err.file?.endsWith(SETTINGS_FILE)) return 'fix the syntax at the position shown: the file is plain JSON';
      return 'fix the syntax at the position shown, or bring back a good copy with `config-persistence backup list` and `backup restore <id>`';
    case 'E_VALIDATION':
      // A ProfileCycleError (src/profiles/chain.ts) carries its chain; importing the class would load the library for --help.
      if (isCycle(err)) return `remove one \`extends\` link of the cycle (${err.chain.slice(0, -1).map((n) => `profiles/${n}`).join(', ')})${unchanged}`;
      if (err.file?.endsWith(SETTINGS_FILE)) return 'correct the settings listed above: every process on this directory reads them';
      return `correct the values listed above${unchanged}`;
    case 'E_NOT_FOUND':
      return 'check the name: `config-persistence status` lists the files, `profile list` the profiles, `backup list` the backups';
    case 'E_INVALID_NAME':
      return command.startsWith('profile') ? '`config-persistence profile list` shows the profile names' : command.startsWith('backup') ? 'copy the id from `config-persistence backup list`' : undefined;
    case 'E_CONFLICT':
      // A stale version is a race with another writer; other conflicts are explained by the message.
      return err instanceof ConflictError && err.actualVersion !== undefined ? 'someone else changed the file meanwhile; run the command again' : undefined;
    case 'E_LOCKED':
      return 'another process is writing; wait for it to finish and try again';
    case 'E_CHECKSUM':
      return command === 'backup restore' ? 'pick another backup from `config-persistence backup list`' : command === 'import' ? undefined : 'run `config-persistence verify` to find every damaged copy';
    case 'E_TOO_LARGE':
      return 'the file is over the size or nesting limit (maxFileBytes in the settings file); shrink it';
    case 'E_IO':
      // The etcd backend's message already says what failed (unreachable, no quorum, credentials).
      if (err.file?.startsWith('etcd:')) return `check the --etcd endpoints: the members must be running and reachable${WRITING.has(command) ? '; nothing was written' : ''}`;
      return `check disk space and permissions of the directory${WRITING.has(command) ? '; the previous content was kept' : ''}`;
    default:
      return undefined;
  }
}

function isCycle(err: ConfigPersistenceError): err is ConfigPersistenceError & { chain: string[] } {
  return err instanceof ValidationError && Array.isArray((err as { chain?: unknown }).chain);
}

/** A formatted failure: the exit code and the lines to print on stderr. */
export interface Report {
  exitCode: number;
  code: string;
  message: string;
  hint: string | undefined;
}

/** Turns anything thrown while running a command into a {@link Report}. */
export function toReport(err: unknown, context: ReportContext = {}): Report {
  if (err instanceof CliError) return { exitCode: err.exitCode, code: err.code, message: err.message, hint: err.hint };
  if (err instanceof CommanderError) {
    return { exitCode: EXIT.usage, code: 'E_USAGE', message: err.message.replace(/^error: /, ''), hint: 'run with --help for usage and examples' };
  }
  if (err instanceof ConfigPersistenceError) {
    // A validation error lists its issues in the message already; keep them, drop the trailing
    // advice (the hint says what fits the command: a load wrote nothing to begin with).
    const message = err instanceof ValidationError ? err.message.replace(/\nFix the values above\.$/, '') : err.message;
    return { exitCode: EXIT.problem, code: err.code, message, hint: hintFor(err, context) };
  }
  const message = err instanceof Error ? err.message : String(err);
  return {
    exitCode: EXIT.problem,
    code: 'E_INTERNAL',
    message,
    hint: 'this is a bug in config-persistence; please report it with the command you ran (--debug adds the stack trace)',
  };
}

/**
 * The stderr text of a report: `E_CODE: message` then `hint: ...`; with `stack` (`--debug`) the
 * stack trace after them.
 */
export function formatReport(report: Report, stack?: string): string {
  return `${report.code}: ${report.message}\n${report.hint ? `hint: ${report.hint}\n` : ''}${stack ? `${stack}\n` : ''}`;
}

/**
 * Whether stack traces are wanted: `--debug` among the arguments, or `DEBUG` set to anything but
 * `0`, `false` or `no` (src/cli.ts reads the same before loading the program).
 */
export function debugRequested(argv: readonly string[], env: NodeJS.ProcessEnv): boolean {
  return argv.includes('--debug') || /^(?!0$|false$|no$)./i.test(env.DEBUG ?? '');
}

/** The stack of `err` when debugging (mapped to src/ by the source maps), else nothing. */
export function stackOf(err: unknown, debug: boolean): string | undefined {
  return debug && err instanceof Error && err.stack ? err.stack : undefined;
}

/** What an error no command caught prints: the same one line, code and hint as any failure. */
export function crashReport(err: unknown, debug: boolean): string {
  return formatReport(toReport(err), stackOf(err, debug));
}
