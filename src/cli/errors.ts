/**
 * How the command line reports failures: exit codes, the `E_CODE: message` line on stderr and a
 * hint of what to do next.
 */
import { CommanderError } from 'commander';
import { ConfigPersistenceError, ValidationError } from '../errors.js';

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

/** What to do next, per library error code (the library's message already names the file). */
const HINTS: Record<string, string> = {
  E_PARSE: 'fix the syntax at the position shown, or bring back a good copy with `config-persistence backup list` and `backup restore <id>`',
  E_VALIDATION: 'correct the values listed above (the schema is in the schema directory); nothing was written',
  E_NOT_FOUND: 'check the name: `config-persistence status` lists the files, `profile list` the profiles, `backup list` the backups',
  E_INVALID_NAME: 'use a plain name such as "production" or "current.yaml", and dot paths such as "server.port"',
  E_CONFLICT: 'someone else changed the file; run the command again',
  E_LOCKED: 'another process is writing; wait for it to finish and try again',
  E_CHECKSUM: 'the stored copy is damaged; run `config-persistence verify` and pick another backup',
  E_TOO_LARGE: 'the file is over the size or nesting limit; shrink it',
  E_IO: 'check disk space and permissions of the directory; the previous content was kept',
};

/** A formatted failure: the exit code and the lines to print on stderr. */
export interface Report {
  exitCode: number;
  code: string;
  message: string;
  hint: string | undefined;
}

/** Turns anything thrown while running a command into a {@link Report}. */
export function toReport(err: unknown): Report {
  if (err instanceof CliError) return { exitCode: err.exitCode, code: err.code, message: err.message, hint: err.hint };
  if (err instanceof CommanderError) {
    return { exitCode: EXIT.usage, code: 'E_USAGE', message: err.message.replace(/^error: /, ''), hint: 'run with --help for usage and examples' };
  }
  if (err instanceof ConfigPersistenceError) {
    // A validation error lists its issues in the message already; keep them, drop the trailing advice.
    const message = err instanceof ValidationError ? err.message.replace(/\nFix the values above; nothing was written\.$/, '') : err.message;
    return { exitCode: EXIT.problem, code: err.code, message, hint: HINTS[err.code] };
  }
  const message = err instanceof Error ? err.message : String(err);
  return {
    exitCode: EXIT.problem,
    code: 'E_INTERNAL',
    message,
    hint: 'this is a bug in config-persistence; please report it with the command you ran',
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
