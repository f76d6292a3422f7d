/**
 * `watch [file]`: prints each valid change as it happens, until interrupted — of the effective
 * configuration (every layer: default, profile chain, current, environment) or, given a file, of
 * that file alone. Invalid content is reported on stderr and the last good version stays current.
 * Ctrl-C (SIGINT) or SIGTERM closes the watch and exits 0.
 */
import type { Command } from 'commander';
import type { Change } from '../../types.js';
import { toReport } from '../errors.js';
import { effectiveOptions, examples, type Kit, type Runtime } from '../runtime.js';
import { renderChanges } from './render.js';

/** Registers `watch`. */
export function registerWatch(program: Command, kit: Kit): void {
  examples(
    effectiveOptions(
      program
        .command('watch')
        .description('print each valid change of the effective configuration (or of one file) until Ctrl-C; invalid edits are reported on stderr')
        .argument('[file]', 'watch only this file, e.g. current.yaml or profiles/production'),
    ),
    'config-persistence watch',
    'config-persistence --json watch profiles/production   # one JSON line per change',
  ).action(kit.act(watch));
}

async function watch(rt: Runtime, file?: string): Promise<number> {
  const hide = await rt.secrets();
  const stopped = untilInterrupted(rt.io.closed);
  const onError = (err: Error): void => {
    const report = toReport(err);
    if (rt.json) rt.jsonLine({ at: new Date().toISOString(), error: { code: report.code, message: report.message } }, 'stderr');
    else rt.note(`${report.code}: ${report.message}\n  (the last good version stays current)`);
  };
  if (file === undefined) {
    const config = await rt.configuration({ watch: true });
    const label = `effective configuration${config.activeProfile ? ` (profile ${config.activeProfile})` : ''}`;
    config.on('error', onError);
    config.on('change', (event) => print(rt, { scope: 'effective', profile: config.activeProfile ?? null }, label, hide.changes(event.changes), hide.doc(event.data)));
    const files = config.sources.map((s) => s.file);
    announce(rt, { scope: 'effective', profile: config.activeProfile ?? null, files }, `watching the ${label}: ${files.join(' ← ')} — press Ctrl-C to stop`);
    await stopped;
    return 0;
  }
  const store = await rt.store();
  const handle = await store.watch(file, (event) => print(rt, { scope: 'file', file: event.file }, event.file, hide.changes(event.changes), hide.doc(event.data)), { onError });
  announce(rt, { scope: 'file', file, baseDir: store.baseDir }, `watching ${file} in ${store.baseDir} — press Ctrl-C to stop`);
  await stopped;
  await handle.close();
  return 0;
}

/**
 * That the watch is running, on stderr: a sentence for humans; with `--json` a JSON line like every
 * other line of the stream (`{ at, watching }`), so a program reading stderr parses every line.
 */
function announce(rt: Runtime, watching: Record<string, unknown>, sentence: string): void {
  if (rt.json) rt.jsonLine({ at: new Date().toISOString(), watching }, 'stderr');
  else rt.note(sentence);
}

function print(rt: Runtime, what: Record<string, unknown>, label: string, changes: readonly Change[], data: unknown): void {
  const at = new Date();
  if (rt.json) {
    // One JSON document per line: a stream a program can read as it comes.
    rt.jsonLine({ at: at.toISOString(), ...what, changes, data });
    return;
  }
  const time = at.toTimeString().slice(0, 8);
  const body = renderChanges(changes, rt.p, 'reloaded (no value changed)')
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
  rt.say(`${rt.p.dim(time)} ${rt.p.bold(label)}\n${body}`);
}

/**
 * Resolves on the first SIGINT or SIGTERM, or when nobody reads the output any more (`watch | head
 * -3`); a second signal exits at once (130). The handlers stay
 * installed until the process ends, so a signal that arrives while the watch closes cannot end the
 * process before it is closed.
 */
export function untilInterrupted(closed: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    closed?.addEventListener('abort', () => resolve(), { once: true });
    let seen = false;
    const stop = (): void => {
      if (seen) process.exit(130);
      seen = true;
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
