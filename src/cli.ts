#!/usr/bin/env node
/**
 * The `config-persistence` command. The program lives in `src/cli/`; this entry only prepares the
 * process and runs it.
 *
 * Why the program is imported dynamically: with `--debug` (or `DEBUG`) stack traces must point at
 * the TypeScript sources, and Node only maps modules compiled after source maps were switched on.
 * Nothing of ours is loaded before that switch.
 */
const debug = process.argv.includes('--debug') || /^(?!0$|false$|no$)./i.test(process.env.DEBUG ?? '');
if (debug) process.setSourceMapsEnabled(true);

// An error no command caught (a failing event handler, a rejected promise nobody awaited) ends the
// command with one line and its code, like any other failure; the stack only when debugging.
const crash = (err: unknown): void => {
  process.exitCode = 1;
  import('./cli/index.js')
    .then(({ crashReport }) => process.stderr.write(crashReport(err, debug)))
    .catch(() => process.stderr.write(`E_INTERNAL: ${String(err)}\n`)) // the report module itself failed to load: print what we have
    .finally(() => process.exit(1));
};
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);

const { main } = await import('./cli/index.js');
process.exitCode = await main(process.argv.slice(2));
