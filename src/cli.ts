#!/usr/bin/env node
/**
 * The command-line tool. Grows with the library; see README "Command line".
 */
import { ConfigPersistence } from './index.js';
import { ConfigPersistenceError } from './errors.js';

async function main(argv: string[]): Promise<number> {
  let dir = 'config';
  let json = false;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--dir') dir = argv[++i] ?? dir;
    else if (arg === '--json') json = true;
    else rest.push(arg);
  }
  const command = rest[0] ?? 'status';
  if (command !== 'status') {
    process.stderr.write(`Unknown command "${command}". Try: config-persistence status\n`);
    return 2;
  }
  const store = new ConfigPersistence({ baseDir: dir });
  try {
    let current: unknown;
    let state = 'valid';
    try {
      current = await store.loadConfig();
    } catch (err) {
      if (err instanceof ConfigPersistenceError && err.code === 'E_NOT_FOUND') state = 'none saved yet';
      else throw err;
    }
    if (json) process.stdout.write(`${JSON.stringify({ baseDir: store.baseDir, current: state, data: current ?? null })}\n`);
    else process.stdout.write(`base directory  ${store.baseDir}\ncurrent config  ${state}\n`);
    return 0;
  } finally {
    await store.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const code = err instanceof ConfigPersistenceError ? err.code : 'E_INTERNAL';
    process.stderr.write(`${code}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
