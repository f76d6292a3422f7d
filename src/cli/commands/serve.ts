/**
 * `serve`: the admin HTTP API (and page) over the directory, until Ctrl-C or SIGTERM. The URL is
 * printed with the token in the fragment, which browsers never send, so it stays out of logs.
 */
import type { Command } from 'commander';
import { usageError } from '../errors.js';
import { examples, type Kit, type Runtime } from '../runtime.js';
import { untilInterrupted } from './watch.js';

/** Registers `serve`. */
export function registerServe(program: Command, kit: Kit): void {
  examples(
    program
      .command('serve')
      .description('serve the admin API and web page on loopback (a new token each start, also written to <dir>/.admin-token) until Ctrl-C')
      .option('--host <address>', 'address to bind (default 127.0.0.1; anything else exposes the server)')
      .option('--port <n>', 'port (0 picks a free one)', '4800'),
    'config-persistence serve',
    'config-persistence --dir config serve --port 0',
  ).action(kit.act(serve));
}

async function serve(rt: Runtime): Promise<number> {
  const port = String(rt.opts.port ?? '4800');
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) > 65535) throw usageError(`--port must be 0..65535, got ${port}`);
  const stopped = untilInterrupted(rt.io.closed);
  const store = await rt.store();
  const { createAdminServer } = await import('../../admin/index.js');
  const host = rt.opts.host as string | undefined;
  const server = await createAdminServer({ store, port: Number(port), ...(host === undefined ? {} : { host }) });
  const url = `${server.url}#token=${server.token}`;
  if (rt.json) rt.jsonLine({ at: new Date().toISOString(), url, tokenFile: server.tokenFile ?? null });
  else rt.say(`admin server for ${store.baseDir}\n  open ${url}\n  token also in ${server.tokenFile ?? '(no directory)'} — press Ctrl-C to stop`);
  await stopped;
  await server.close();
  rt.note('admin server stopped');
  return 0;
}
