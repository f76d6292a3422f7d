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
  const stopped = untilInterrupted(rt.io.closed);
  const onError = (err: Error): void => {
    const report = toReport(err);
    if (rt.json) rt.io.stderr.write(`${JSON.stringify({ at: new Date().toISOString(), error: { code: report.code, message: report.message } })}\n`);
    else rt.note(`${report.code}: ${report.message}\n  (the last good version stays current)`);
  };
  if (file === undefined) {
    const config = await rt.configuration({ watch: true });
    const label = `effective configuration${config.activeProfile ? ` (profile ${config.activeProfile})` : ''}`;
    config.on('error', onError);
    config.on('change', (event) => print(rt, { scope: 'effective', profile: config.activeProfile ?? null }, label, event.changes, event.data));
    rt.note(`watching the ${label}: ${config.sources.map((s) => s.file).join(' ← ')} — press Ctrl-C to stop`);
    await stopped;
    return 0;
  }
  const store = await rt.store();
  const handle = await store.watch(file, (event) => print(rt, { scope: 'file', file: event.file }, event.file, event.changes, event.data), { onError });
  rt.note(`watching ${file} in ${store.baseDir} — press Ctrl-C to stop`);
  await stopped;
  await handle.close();
  return 0;
}

function print(rt: Runtime, what: Record<string, unknown>, label: string, changes: readonly Change[], data: unknown): void {
  const at = new Date();
  if (rt.json) {
    // One JSON document per line: a stream a program can read as it comes.
    rt.io.stdout.write(`${JSON.stringify({ at: at.toISOString(), ...what, changes, data })}\n`);
    return;
  }
  const time = at.toTimeString().slice(0, 8);
  const body = renderChanges(changes, rt.p, 'reloaded (no value changed)')
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
  rt.io.stdout.write(`${rt.p.dim(time)} ${rt.p.bold(label)}\n${body}\n`);
}

/**
 * Resolves on the first SIGINT or SIGTERM, or when nobody reads the output any more (`watch | head
 * -3`); a second signal exits at once (130). The handlers stay
 * installed until the process ends: removing them inside the signal would leave proper-lockfile's
 * signal-exit hook as the only listener, and it then re-raises the signal and kills the process
 * before the watch is closed.
 */
function untilInterrupted(closed: AbortSignal | undefined): Promise<void> {
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
