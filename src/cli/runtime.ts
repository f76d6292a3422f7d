/**
 * What every command works with: the global options, the store over `--dir`, output that is either
 * human text or one JSON document, confirmation prompts and progress on a terminal.
 */
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import type { ConfigPersistence } from '../api/config-persistence.js';
import type { Configuration } from '../api/configuration.js';
import type { ConfigPersistenceOptions } from '../types.js';
import { redactor, type Redactor } from '../schema/secrets.js';
import { CliError, usageError } from './errors.js';
import { colorEnabled, jsonText, palette, terminalText, type Palette } from './output.js';

/** The process streams and environment, injectable so the CLI can run inside tests. */
export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /**
   * Aborted when the reader of stdout or stderr went away (`config-persistence backup list | head
   * -2`): what is left to print is dropped, and commands that run until stopped (`watch`) end.
   */
  closed?: AbortSignal;
}

/**
 * The real process. A closed pipe (EPIPE) ends the output quietly: the reader has what it wanted,
 * so it is no failure and no stack trace; the command finishes what it was doing (a save in
 * progress completes rather than being cut off) and exits with its own code.
 */
export function processIo(): Io {
  const closed = new AbortController();
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err; // any other output failure is real: reported as uncaught
      closed.abort();
    });
  }
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, closed: closed.signal };
}

/** Options every command accepts (see `config-persistence --help`). */
export interface GlobalOptions {
  dir: string;
  /** Only when given: otherwise the settings file's, else `schemas`. */
  schemaDir?: string;
  json?: boolean;
  color?: boolean;
  /** `--etcd`: the store lives on these etcd members (comma-separated client URLs) instead of `--dir`. */
  etcd?: string;
  /** `--prefix`: the key prefix of the store on etcd. */
  prefix?: string;
  /** `--show-secrets`: print values the schema marks secret as they are. */
  showSecrets?: boolean;
  /** `--key-file`: the encryption key's file (else env CONFIG_PERSISTENCE_KEY / CONFIG_PERSISTENCE_KEY_FILE). */
  keyFile?: string;
}

/** A progress line on the terminal: `label 120/5000`. Does nothing when stderr is not a TTY. */
export interface Progress {
  update(done: number, total?: number): void;
  done(): void;
}

/** The per-invocation state handed to a command's handler. */
export class Runtime {
  /** Global options merged with the command's own. */
  readonly opts: GlobalOptions & Record<string, unknown>;
  readonly io: Io;
  /** Colours for stdout. */
  readonly p: Palette;
  private store_: Promise<ConfigPersistence> | undefined;
  private config_: Promise<Configuration> | undefined;
  private readonly cleanups: Array<() => Promise<void> | void> = [];

  constructor(opts: GlobalOptions & Record<string, unknown>, io: Io) {
    this.opts = opts;
    this.io = io;
    this.p = palette(!opts.json && colorEnabled(io.stdout, io.env, opts.color));
  }

  /**
   * The terminal's width for wrapping long lines: stdout's columns on a terminal, else `COLUMNS`
   * when set; undefined (no wrapping) for a pipe, where a program reads whole lines.
   */
  get columns(): number | undefined {
    const fromEnv = Number(this.io.env.COLUMNS);
    const tty = (this.io.stdout as { columns?: number }).columns;
    if (this.io.stdout.isTTY && tty) return tty;
    return Number.isInteger(fromEnv) && fromEnv > 20 ? fromEnv : undefined;
  }

  /** `--json` was given: print machine-readable results only. */
  get json(): boolean {
    return Boolean(this.opts.json);
  }

  /**
   * The store over `--dir` and `--schema-dir`, created on first use and closed after the command.
   * The library is imported on first use: `--help` and usage errors stay fast without it (ajv and
   * the codecs cost more to load than the rest of the CLI). `extra` applies to the first call only.
   */
  store(extra: Pick<ConfigPersistenceOptions, 'migrations'> = {}): Promise<ConfigPersistence> {
    this.store_ ??= Promise.all([import('./library.js'), this.storageOption()]).then(
      ([{ ConfigPersistence }, storage]) => new ConfigPersistence({ baseDir: this.opts.dir, ...this.schemaOption(), ...storage, ...this.keyOption(), ...extra }),
    );
    return this.store_;
  }

  /**
   * The effective configuration (default ← profile chain ← profile ← current ← environment) as an
   * application would open it, honouring `--profile` and `--env-prefix`; opened once, closed after
   * the command (`extra` applies to the first call only). Rejects like `Configuration.open` when a
   * layer is unreadable or the result invalid.
   */
  configuration(extra: { watch?: boolean } = {}): Promise<Configuration> {
    this.config_ ??= Promise.all([import('./library.js'), this.storageOption()]).then(([{ Configuration }, storage]) =>
      Configuration.open({
        ...(extra.watch ? { watch: true } : {}),
        baseDir: this.opts.dir,
        ...this.schemaOption(),
        ...storage,
        ...this.keyOption(),
        env: this.io.env,
        ...(typeof this.opts.profile === 'string' ? { profile: this.opts.profile } : {}),
        ...(typeof this.opts.envPrefix === 'string' ? { envPrefix: this.opts.envPrefix } : {}),
      }),
    );
    return this.config_;
  }

  /**
   * The encryption key: `--key-file`, else env `CONFIG_PERSISTENCE_KEY`, else env
   * `CONFIG_PERSISTENCE_KEY_FILE` of this invocation's environment (docs/encryption.md). Never an
   * argument of its own: a key on the command line is visible to every user in `ps`.
   */
  keyOption(): { encryptionKey?: string; encryptionKeyFile?: string } {
    if (this.opts.keyFile !== undefined) return { encryptionKeyFile: this.opts.keyFile };
    const key = this.io.env.CONFIG_PERSISTENCE_KEY;
    if (key !== undefined && key !== '') return { encryptionKey: key };
    const file = this.io.env.CONFIG_PERSISTENCE_KEY_FILE;
    return file !== undefined && file !== '' ? { encryptionKeyFile: file } : {};
  }

  /**
   * With `--etcd`, an EtcdStorage on those members (`--prefix`, default `config/`); the etcd backend
   * (and its client library) is loaded only then. Without it, nothing: the store is `--dir`.
   */
  private async storageOption(): Promise<{ storage?: import('../storage/types.js').Storage }> {
    if (this.opts.etcd === undefined) {
      if (this.opts.prefix !== undefined) throw usageError('--prefix applies to an etcd store only: give --etcd <endpoints> too');
      return {};
    }
    const { EtcdStorage } = await import('../storage/etcd/index.js');
    return { storage: new EtcdStorage({ endpoints: this.opts.etcd, ...(this.opts.prefix !== undefined ? { prefix: this.opts.prefix } : {}) }) };
  }

  /**
   * `--schema-dir` when it was given. Otherwise nothing: the library then takes the directory
   * settings file's `schemaDir` (or its default), as every other process on the directory does.
   */
  private schemaOption(): { schemaDir?: string } {
    return this.opts.schemaDir === undefined ? {} : { schemaDir: this.opts.schemaDir };
  }

  /**
   * What this command's output hides: values the store's schema marks secret are `"***"` unless
   * `--show-secrets` was given. Every command that prints configuration values goes through it.
   */
  async secrets(): Promise<Redactor> {
    if (this.opts.showSecrets === true) return redactor(undefined);
    return redactor(await (await this.store()).schemaDocument());
  }

  /** Whether `--show-secrets` was given (for library calls that take `includeSecrets`). */
  get includeSecrets(): { includeSecrets: boolean } {
    return { includeSecrets: this.opts.showSecrets === true };
  }

  /** Runs `fn` when the command ends (successful or not), before the store closes. */
  onClose(fn: () => Promise<void> | void): void {
    this.cleanups.push(fn);
  }

  /** Prints a result: `human()` as text, or `data` as one JSON document with `--json`. */
  print(data: unknown, human: () => string): void {
    if (this.json) this.io.stdout.write(`${jsonText(JSON.stringify(data, null, 2))}\n`);
    else {
      const text = human();
      if (text !== '') this.io.stdout.write(terminalText(text.endsWith('\n') ? text : `${text}\n`));
    }
  }

  /** A line for humans only (never in `--json` output). */
  say(text: string): void {
    if (!this.json) this.io.stdout.write(terminalText(`${text}\n`));
  }

  /** A notice on stderr (warnings, "nothing changed"); never mixed into stdout. */
  note(text: string): void {
    this.io.stderr.write(terminalText(`${text}\n`));
  }

  /** One JSON document on one line, to stdout or stderr (streams of events such as `--json watch`). */
  jsonLine(data: unknown, stream: 'stdout' | 'stderr' = 'stdout'): void {
    this.io[stream].write(`${jsonText(JSON.stringify(data))}\n`);
  }

  /** Text for a file or a pipe exactly as given (`export -`): JSON, with its controls escaped the JSON way. */
  raw(json: string): void {
    this.io.stdout.write(jsonText(json));
  }

  /**
   * Asks before a destructive operation (`action` reads like "delete profile \"dev\""; `detail` is
   * added to the question). `--yes` skips the question. Without a terminal on stdin nobody can
   * answer, so the operation is refused (exit 1) rather than done unasked.
   */
  async confirm(action: string, detail?: string): Promise<void> {
    if (this.opts.yes) return;
    if (!this.io.stdin.isTTY) {
      throw new CliError('E_CONFIRM', `Refusing to ${action} without confirmation: stdin is not a terminal, so nobody can answer. Nothing was changed.`, {
        hint: 'pass --yes to confirm non-interactively',
      });
    }
    const rl = createInterface({ input: this.io.stdin, output: this.io.stderr });
    try {
      const question = `${action.charAt(0).toUpperCase()}${action.slice(1)}?${detail ? ` ${detail}.` : ''} [y/N] `;
      const answer = (await rl.question(question)).trim().toLowerCase();
      if (answer !== 'y' && answer !== 'yes') throw new CliError('E_ABORTED', 'Cancelled; nothing was changed.');
    } finally {
      rl.close();
    }
  }

  /** A progress line on stderr, shown only when stderr is a terminal. */
  progress(label: string): Progress {
    const stream = this.io.stderr;
    if (!stream.isTTY) return { update: () => undefined, done: () => undefined };
    let last = 0;
    let shown = false;
    return {
      update(done: number, total?: number) {
        const now = Date.now();
        if (now - last < 80 && (total === undefined || done < total)) return;
        last = now;
        shown = true;
        stream.write(`\r\u001b[K${label} ${done}${total !== undefined ? `/${total}` : ''}`);
      },
      done() {
        if (shown) stream.write('\r\u001b[K');
      },
    };
  }

  /**
   * Shows `label …` with the elapsed time on a terminal while `work` runs (for operations that
   * report no progress of their own), and clears it afterwards.
   */
  async busy<R>(label: string, work: Promise<R>): Promise<R> {
    const stream = this.io.stderr;
    if (!stream.isTTY) return work;
    const started = Date.now();
    const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let i = 0;
    const timer = setInterval(() => {
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      stream.write(`\r\u001b[K${frames[i++ % frames.length]} ${label} ${seconds} s`);
    }, 100);
    try {
      return await work;
    } finally {
      clearInterval(timer);
      if (i > 0) stream.write('\r\u001b[K');
    }
  }

  /** Runs the cleanups and closes the store. */
  async close(): Promise<void> {
    for (const fn of this.cleanups.splice(0).reverse()) await fn();
    if (this.config_) {
      // A configuration that failed to open has nothing to close; its error was reported already.
      const config = await this.config_.catch(() => undefined);
      await config?.close();
    }
    if (this.store_) await (await this.store_).close();
  }
}

/** A command handler: gets the runtime and the positional arguments; returns the exit code. */
export type Handler = (rt: Runtime, ...args: string[]) => Promise<number | void>;

/** Shared between `main` and the actions: the exit code of the command that ran. */
export interface RunState {
  exitCode: number;
  /** The command that ran, without the program name (`profile delete`): failures get a hint that fits it. */
  command?: string;
}

/**
 * Wraps a handler as a commander action: builds the runtime from the global and local options,
 * runs the handler and always closes the store.
 */
export function action(io: Io, state: RunState, handler: Handler): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const names: string[] = [];
    for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
    state.command = names.join(' ');
    const positional = args.slice(0, -2).map((a) => (Array.isArray(a) ? a.join(' ') : (a as string)));
    const rt = new Runtime(command.optsWithGlobals() as GlobalOptions & Record<string, unknown>, io);
    try {
      state.exitCode = (await handler(rt, ...positional)) ?? 0;
    } finally {
      await rt.close();
    }
  };
}

/** What a command module gets to register itself. */
export interface Kit {
  /** Wraps a handler as a commander action. */
  act(handler: Handler): (...args: unknown[]) => Promise<void>;
}

/** Adds `--profile` and `--env-prefix`: the options that choose which effective configuration a command sees. */
export function effectiveOptions(command: Command): Command {
  return command
    .option('-p, --profile <name>', 'use this profile instead of the active one (like CONFIG_PROFILE)')
    .option('--env-prefix <prefix>', 'also apply environment variables <PREFIX>__SERVER__PORT=9000 (as an application started with envPrefix would)');
}

/** Adds an "Examples" section to a command's `--help`. */
export function examples(command: Command, ...lines: string[]): Command {
  return command.addHelpText('after', `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
}
