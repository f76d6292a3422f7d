/**
 * Compiled by test/types.test.ts: a schema declared `as const` types the whole API without writing
 * `T` by hand (inferred with json-schema-to-ts's FromSchema). `@ts-expect-error` lines must fail.
 */
import { ConfigPersistence, Configuration } from '../../src/index.js';

const schema = {
  type: 'object',
  properties: {
    server: {
      type: 'object',
      properties: { port: { type: 'integer', default: 8080 }, host: { type: 'string' } },
      required: ['host'],
      additionalProperties: false,
    },
    logging: { type: 'object', properties: { level: { enum: ['debug', 'info', 'warn'] } }, additionalProperties: false },
    origins: { type: 'array', items: { type: 'string' } },
  },
  additionalProperties: false,
} as const;

export async function store(): Promise<void> {
  const store = new ConfigPersistence({ baseDir: 'config', schema });
  const doc = await store.loadConfig();
  const host: string | undefined = doc.server?.host;
  // Defaulted properties are present after a load (defaults are filled in).
  const port: number | undefined = doc.server?.port;
  await store.saveConfig({ server: { host: 'example.org', port: 1 }, logging: { level: 'info' } });
  // @ts-expect-error: an unknown key of the schema
  await store.saveConfig({ server: { host: 'h', prot: 1 } });
  // @ts-expect-error: a value outside the enum
  await store.saveConfig({ logging: { level: 'loud' } });
  // @ts-expect-error: a required property missing
  await store.saveConfig({ server: { port: 1 } });
  // @ts-expect-error: a typo in a property read
  void doc.sever;
  void [host, port];
}

export async function configuration(): Promise<void> {
  const config = await Configuration.open({ baseDir: 'config', schema });
  const port: number | undefined = config.get('server.port');
  const level: 'debug' | 'info' | 'warn' | undefined = config.get('logging.level');
  const origin: string | undefined = config.get('origins.0');
  config.set('server.host', 'example.org');
  // @ts-expect-error: a typo in a path is a compile error, not `unknown`
  config.get('server.prot');
  // @ts-expect-error: set() checks the value against the schema's type
  config.set('server.port', 'eighty');
  // @ts-expect-error: and the enum
  config.set('logging.level', 'loud');
  const sync = Configuration.openSync({ baseDir: 'config', schema });
  // @ts-expect-error: openSync infers too
  sync.get('logging.levl');
  void [port, level, origin];
}

interface Shop {
  server: { port: number };
}

export async function explicit(): Promise<void> {
  // An explicit type argument still wins, with or without a schema object.
  const loaded: object = JSON.parse('{}');
  const config = await Configuration.open<Shop>({ baseDir: 'config', schema: loaded });
  const port: number | undefined = config.get('server.port');
  // @ts-expect-error: Shop has no host
  config.get('server.host');
  const store = new ConfigPersistence<Shop>({ schema: loaded });
  // @ts-expect-error: Shop's port is a number
  await store.saveConfig({ server: { port: 'x' } });
  void port;
}

export async function wide(): Promise<void> {
  // A schema known only as an object (read from a file at run time) leaves the store open-ended.
  const loaded: object = JSON.parse('{}');
  const config = await Configuration.open({ schema: loaded });
  const anything: unknown = config.get('any.path');
  const store = new ConfigPersistence({ schema: 'config.schema.json' });
  const doc: Record<string, unknown> = await store.loadConfig();
  const plain = new ConfigPersistence();
  const other: Record<string, unknown> = await plain.loadConfig();
  void [anything, doc, other];
}

/** Subclassing with an explicit type still works. */
export class ShopStore extends ConfigPersistence<Shop> {
  async port(): Promise<number> {
    return (await this.loadConfig()).server.port;
  }
}
