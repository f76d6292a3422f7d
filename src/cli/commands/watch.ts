/**
 * `watch [file]`: prints each valid change of a config file as it happens, until interrupted.
 * Invalid content is reported on stderr and the last good version stays current. Ctrl-C (SIGINT)
 * or SIGTERM closes the watch and exits 0.
 */
import type { Command } from 'commander';
import { toReport } from '../errors.js';
import type { WatchEvent } from '../../types.js';
import { examples, type Kit, type Runtime } from '../runtime.js';
import { renderChanges } from './render.js';

/** Registers `watch`. */
export function registerWatch(program: Command, kit: Kit): void {
  examples(
    program
      .command('watch')
      .description('print each valid change of a config file (default current.*) until Ctrl-C; invalid edits are reported on stderr')
      .argument('[file]', 'config file, e.g. current.yaml or profiles/production'),
    'config-persistence watch',
    'config-persistence --json watch profiles/production   # one JSON line per change',
  ).action(kit.act(watch));
}

async function watch(rt: Runtime, file?: string): Promise<number> {
  const store = await rt.store();
  const stopped = untilInterrupted();
  const handle = await store.watch(file, (event) => print(rt, event), {
    onError: (err) => {
      const report = toReport(err);
      if (rt.json) rt.io.stderr.write(`${JSON.stringify({ at: new Date().toISOString(), error: { code: report.code, message: report.message } })}\n`);
      else rt.note(`${report.code}: ${report.message}\n  (the last good version stays current)`);
    },
  });
  rt.note(`watching ${file ?? 'current.*'} in ${store.baseDir} — press Ctrl-C to stop`);
  await stopped;
  await handle.close();
  return 0;
}

function print(rt: Runtime, event: WatchEvent<unknown>): void {
  const at = new Date();
  if (rt.json) {
    // One JSON document per line: a stream a program can read as it comes.
    rt.io.stdout.write(`${JSON.stringify({ at: at.toISOString(), file: event.file, changes: event.changes, data: event.data })}\n`);
    return;
  }
  const time = at.toTimeString().slice(0, 8);
  const body = renderChanges(event.changes, rt.p, 'reloaded (no value changed)')
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
  rt.io.stdout.write(`${rt.p.dim(time)} ${rt.p.bold(event.file)}\n${body}\n`);
}

/** Resolves on the first SIGINT or SIGTERM; the handlers are removed again afterwards. */
function untilInterrupted(): Promise<void> {
  return new Promise((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
