/**
 * The command-line program: global options, the commands, and the mapping of every outcome to an
 * exit code (0 success, 1 a problem found or a failed operation, 2 bad usage).
 */
import { packageVersion } from '../core/lazy-deps.js';
// Loaded with the program, not on first use: as one module graph with the library entry the build
// puts the code they share into one chunk, and an application's cold start loads 2-3 modules
// instead of 8 (each module costs ~1 ms to load; measured with bench/startup-like fresh processes).
import './library.js';
import { Command, CommanderError } from 'commander';
import { debugRequested, EXIT, formatReport, stackOf, toReport } from './errors.js';
import { terminalText } from './output.js';
import { action, examples, processIo, type Io, type Kit, type RunState } from './runtime.js';
import { registerInit } from './commands/init.js';
import { registerStatus } from './commands/status.js';
import { registerGetSet } from './commands/get-set.js';
import { registerValidate } from './commands/validate.js';
import { registerProfile } from './commands/profile.js';
import { registerWatch } from './commands/watch.js';
import { registerBackup } from './commands/backup.js';
import { registerHistory } from './commands/history.js';
import { registerStats } from './commands/stats.js';
import { registerKey } from './commands/key.js';
import { registerBundle } from './commands/bundle.js';
import { registerIntegrity } from './commands/integrity.js';
import { registerTypes } from './commands/types.js';
import { registerServe } from './commands/serve.js';
import { registerMigrate } from './commands/migrate.js';

/** The package version, read once from package.json next to `dist/`. */
function version(): string {
  try {
    return packageVersion();
  } catch {
    return '0.0.0'; // --version is informational; a missing package.json must not break the tool
  }
}

/** Builds the program. `state` receives the exit code of the command that ran. */
export function buildProgram(io: Io, state: RunState): Command {
  const program = new Command('config-persistence');
  program
    .description('Keep configuration in plain JSON/YAML files that are never lost or corrupted: profiles, backups, history, validation.')
    .version(version(), '-V, --version', 'print the version')
    .option('-d, --dir <dir>', 'the managed configuration directory', 'config')
    .option('--schema-dir <dir>', 'directory of JSON Schemas (config.schema.json is the default schema); default: the settings file\'s schemaDir, else schemas')
    .option('--etcd <endpoints>', 'keep the store on etcd instead of --dir: comma-separated client URLs, e.g. http://127.0.0.1:2379')
    .option('--prefix <prefix>', 'with --etcd: the key prefix of the store (default config/)')
    .option('--key-file <path>', 'the encryption key (64 hex digits or base64, mode 0600) for an encrypted directory; default: env CONFIG_PERSISTENCE_KEY, else CONFIG_PERSISTENCE_KEY_FILE')
    .option('--json', 'print machine-readable JSON only (no colour, no decoration)')
    .option('--show-secrets', 'print values the schema marks secret (x-secret, writeOnly) instead of "***" (get, status, diff, profile show, export, watch...)')
    .option('--no-color', 'no colours (also off with NO_COLOR or when output is not a terminal)')
    .option('--debug', 'print the stack trace of a failure, mapped to the TypeScript sources (also DEBUG=1)')
    .helpOption('-h, --help', 'show help')
    .helpCommand('help [command]', 'show help for a command')
    .showSuggestionAfterError(true)
    .configureHelp({ sortSubcommands: false, showGlobalOptions: true })
    .configureOutput({
      writeOut: (s) => io.stdout.write(terminalText(s)),
      writeErr: (s) => io.stderr.write(terminalText(s)),
      // Usage errors are printed by main() in the same `E_CODE: message` form as every other error.
      outputError: () => undefined,
    })
    .exitOverride();
  program.addHelpText(
    'after',
    `
Exit codes: 0 success, 1 a problem found or an operation failed, 2 bad usage.

Examples:
  $ config-persistence --dir config status
  $ config-persistence get server.port
  $ config-persistence set server.port 9090
  $ config-persistence --json validate
`,
  );
  const kit: Kit = { act: (handler) => action(io, state, handler) };
  registerInit(program, kit);
  registerStatus(program, kit);
  registerGetSet(program, kit);
  registerValidate(program, kit);
  registerProfile(program, kit);
  registerBackup(program, kit);
  registerHistory(program, kit);
  registerBundle(program, kit);
  registerIntegrity(program, kit);
  registerServe(program, kit);
  registerStats(program, kit);
  registerKey(program, kit);
  registerTypes(program, kit);
  registerMigrate(program, kit);
  registerWatch(program, kit);
  for (const command of walk(program)) {
    command.exitOverride((err) => {
      throw new UsageError(err, commandPath(command));
    });
  }
  return program;
}

/** A commander error with the command it happened in, for the hint. */
class UsageError extends CommanderError {
  readonly commandPath: string;

  constructor(err: CommanderError, path: string) {
    super(err.exitCode, err.code, err.message);
    this.commandPath = path;
  }
}

function* walk(command: Command): Generator<Command> {
  yield command;
  for (const sub of command.commands) yield* walk(sub);
}

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Runs the command line with `argv` (without `node` and the script); resolves to the exit code. */
export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const state: RunState = { exitCode: EXIT.ok };
  const program = buildProgram(io, state);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return state.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version "exit" through the override with code 0.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.ok;
      // A command group run without a subcommand printed its help as an error: bad usage.
      if (err.code === 'commander.help') return EXIT.usage;
    }
    const report = toReport(err, state.command === undefined ? {} : { command: state.command });
    if (err instanceof UsageError) report.hint = `run \`${err.commandPath} --help\` for usage and examples`;
    io.stderr.write(terminalText(formatReport(report, stackOf(err, debugRequested(argv, io.env)))));
    return report.exitCode;
  }
}

export { examples };
export { crashReport } from './errors.js';
