/**
 * Compiled by test/types.test.ts with `tsc --noEmit`: every line marked `@ts-expect-error` must be
 * a type error (tsc fails on an expectation that is not met), every other line must compile.
 */
import { Configuration } from '../../src/index.js';

interface Shop {
  server: { port: number; host: string };
  features: { beta: boolean };
  origins: string[];
}

export async function typed(): Promise<void> {
  const config = await Configuration.open<Shop>({ baseDir: 'config' });
  const port: number | undefined = config.get('server.port');
  const host: string = config.get('server.host', 'localhost');
  const origin: string | undefined = config.get('origins.0');
  config.set('server.port', 8080);
  config.has('features.beta');
  config.delete('server.host');
  // @ts-expect-error: a typo in a path is a compile error, not `unknown`
  config.get('server.prot');
  // @ts-expect-error: with a fallback too
  config.get('sever.port', 1);
  // @ts-expect-error: has() checks paths as well
  config.has('features.bta');
  // @ts-expect-error: delete() checks paths as well
  config.delete('origin');
  // @ts-expect-error: set() checks paths
  config.set('server.portt', 1);
  // @ts-expect-error: and the value's type
  config.set('server.port', 'not a number');
  // @ts-expect-error: the value at a path has its type
  const wrong: string | undefined = config.get('server.port');
  void [port, host, origin, wrong];
}

export async function untyped(): Promise<void> {
  // An open-ended configuration accepts any path.
  const config = await Configuration.open({ baseDir: 'config' });
  const anything: unknown = config.get('any.path.at.all');
  config.has('x.y');
  config.delete('x');
  void anything;
}
