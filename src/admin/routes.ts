/**
 * The `/api/v1/` endpoints. Each handler calls one public library method and answers through
 * {@link respond}, the one place output leaves the server, so secrets are redacted everywhere.
 */
import type { Context as HonoContext, Hono } from 'hono';
import type { ConfigPersistence } from '../api/config-persistence.js';
import type { Configuration } from '../api/configuration.js';
import { ConfigPersistenceError, TooLargeError } from '../errors.js';
import { declaresSecrets, keepRedacted, redact, redactor } from '../schema/secrets.js';
import { explainAll } from '../cli/effective.js';
import type { EventHub } from './server.js';

/** What the routes need from the server. */
export interface Api {
  store: ConfigPersistence<any>;
  schema(): object | undefined;
  maxBodyBytes: number;
  events: EventHub;
  /** A `Configuration` over the store's directory and schema. */
  openConfiguration(extra?: { profile?: string; watch?: boolean }): Promise<Configuration>;
  /** The raw audit log (JSON lines), undefined when nothing was audited yet. */
  audit(): Promise<Uint8Array | undefined>;
}

type Kind = 'plain' | 'document';

/** The one exit: JSON with a status; a configuration document is redacted by the schema first. */
function respond(c: HonoContext, api: Api, value: unknown, kind: Kind = 'plain', status = 200): Response {
  const schema = api.schema();
  const body = kind === 'document' && schema !== undefined ? redact(value, schema) : value;
  return c.json(body as object, status as 200);
}

/** The JSON body, refused over `maxFileBytes` before it is read in full. */
async function body(c: HonoContext, api: Api): Promise<any> {
  const declared = Number(c.req.header('content-length') ?? '0');
  if (declared > api.maxBodyBytes) throw new TooLargeError(`request body of ${declared} bytes exceeds maxFileBytes (${api.maxBodyBytes})`);
  const bytes = await readLimited(c.req.raw, api.maxBodyBytes);
  const text = new TextDecoder().decode(bytes);
  if (text.trim() === '') throw new ConfigPersistenceError('E_PARSE', 'request body is empty; a JSON document is expected');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigPersistenceError('E_PARSE', `request body is not JSON: ${(err as Error).message}`);
  }
}

async function readLimited(req: Request, limit: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (req.body === null) return new Uint8Array();
  for await (const chunk of req.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > limit) throw new TooLargeError(`request body exceeds maxFileBytes (${limit})`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function intParam(value: string | undefined, what: string): number {
  if (value === undefined || !/^[0-9]+$/.test(value)) throw new ConfigPersistenceError('E_VALIDATION', `${what} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

const meta = { changedBy: 'admin' } as const;

/** Registers every endpoint of the SPEC under `/api/v1/`. */
export function registerRoutes(app: Hono, api: Api): void {
  registerConfig(app, api);
  registerProfiles(app, api);
  registerBackups(app, api);
  registerHistory(app, api);
  registerOperations(app, api);
}

function registerConfig(app: Hono, api: Api): void {
  const { store } = api;
  app.get('/api/v1/status', async (c) => respond(c, api, { baseDir: store.baseDir, activeProfile: (await store.getActiveProfile()) ?? null, profiles: (await store.listProfiles()).map((p) => p.name) }));
  app.get('/api/v1/config', async (c) => {
    const profile = c.req.query('profile');
    const config = await api.openConfiguration(profile ? { profile } : {});
    try {
      const explained = c.req.query('explain') === '1' ? { values: explainAll(config, redactor(api.schema())) } : {};
      return respond(c, api, { profile: config.activeProfile ?? null, data: redactData(api, config.data), ...explained });
    } finally {
      await config.close();
    }
  });
  app.get('/api/v1/files', async (c) => respond(c, api, { files: await store.listConfigs() }));
  app.get('/api/v1/files/:file', async (c) => {
    const file = c.req.param('file');
    // Data, version and checksum from one read: an ETag newer than the data shown would let a
    // conditional PUT overwrite a change its sender never saw.
    const { data, version, sha256 } = await store.loadVersioned(file);
    const etag = entityTag(version, sha256);
    c.header('ETag', etag);
    return respond(c, api, { file, version, sha256, etag, data: redactData(api, data) });
  });
  app.put('/api/v1/files/:file', async (c) => {
    const file = c.req.param('file');
    const condition = ifMatchOf(c.req.header('if-match'));
    const data = await keepSecrets(api, await body(c, api), `PUT files/${file}`, () => store.loadConfig(file));
    const result = await store.saveConfig(data, file, { ...meta, reason: 'admin edit', ...condition });
    c.header('ETag', entityTag(result.version, result.sha256));
    return respond(c, api, result);
  });
}

/**
 * A document sent back after a GET holds "***" where a secret was: those paths keep the stored
 * value (read only when the schema declares secrets), so an edit never writes the placeholder.
 */
async function keepSecrets(api: Api, data: unknown, label: string, stored: () => Promise<unknown>): Promise<unknown> {
  const schema = api.schema();
  if (schema === undefined || !declaresSecrets(schema)) return data;
  const existing = await stored().catch((err: unknown) => {
    // Nothing stored yet: every placeholder is then refused as having no value to keep.
    if (err instanceof ConfigPersistenceError && err.code === 'E_NOT_FOUND') return undefined;
    throw err;
  });
  return keepRedacted(data, schema, existing, label);
}

/** The files endpoint's `data` goes through redaction too: `respond` redacts whole documents only. */
function redactData(api: Api, data: unknown): unknown {
  const schema = api.schema();
  return schema === undefined ? data : redact(data, schema);
}

/**
 * A file's entity tag: its version, or for content without one (changed outside config-persistence,
 * never saved through it) `sha256:<hex>` of its bytes — so a client can always make its PUT
 * conditional. (A version-only ETag was the newest history version even when the content had been
 * changed outside since: every PUT with it was refused, and a reload gave the same tag again.)
 */
function entityTag(version: number | null, sha256: string): string {
  return version === null ? `"sha256:${sha256}"` : `"${version}"`;
}

/** `If-Match: "<version>"` or `"sha256:<hex>"` as save options; `*` and absence: unconditional. */
function ifMatchOf(header: string | undefined): { ifVersion?: number; ifSha256?: string } {
  if (header === undefined || header.trim() === '*') return {};
  const tag = header.trim().replace(/^W\//, '').replace(/"/g, '');
  const sha = /^sha256:([0-9a-f]{64})$/.exec(tag);
  if (sha) return { ifSha256: sha[1]! };
  if (!/^[0-9]+$/.test(tag)) throw new ConfigPersistenceError('E_VALIDATION', `If-Match must be an ETag this server gave ("<version>" or "sha256:<hex>"), got ${JSON.stringify(header)}`);
  return { ifVersion: Number(tag) };
}


function registerProfiles(app: Hono, api: Api): void {
  const { store } = api;
  app.get('/api/v1/profiles', async (c) => respond(c, api, { profiles: await store.listProfiles(), active: (await store.getActiveProfile()) ?? null }));
  app.get('/api/v1/profiles/:name', async (c) => {
    const profile = await store.loadProfile(c.req.param('name'), { resolve: c.req.query('resolve') !== '0' });
    return respond(c, api, { ...profile, data: redactData(api, profile.data) });
  });
  app.put('/api/v1/profiles/:name', async (c) => {
    const input = await body(c, api);
    if (input === null || typeof input !== 'object' || Array.isArray(input) || typeof input.data !== 'object') {
      throw new ConfigPersistenceError('E_VALIDATION', 'body must be { data, extends?, description? }');
    }
    const opts = { ...meta, ...(input.extends === undefined ? {} : { extends: input.extends }), ...(input.description === undefined ? {} : { description: input.description }) };
    const name = c.req.param('name');
    const data = await keepSecrets(api, input.data, `PUT profiles/${name}`, async () => (await store.loadProfile(name, { resolve: false })).data);
    return respond(c, api, await store.saveProfile(name, data, opts));
  });
  app.delete('/api/v1/profiles/:name', async (c) => {
    await store.deleteProfile(c.req.param('name'));
    return respond(c, api, { deleted: c.req.param('name') });
  });
  app.post('/api/v1/profiles/:name/activate', async (c) => {
    const name = c.req.param('name');
    if (!(await store.profileExists(name))) throw new ConfigPersistenceError('E_NOT_FOUND', `no profile named ${name}`);
    await store.setActiveProfile(name, meta);
    return respond(c, api, { active: name });
  });
}

function registerBackups(app: Hono, api: Api): void {
  const { store } = api;
  app.get('/api/v1/backups', async (c) => respond(c, api, { backups: await store.listBackups(c.req.query('file') || undefined) }));
  app.post('/api/v1/backups', async (c) => {
    const input = await body(c, api);
    const label = typeof input?.label === 'string' ? input.label : undefined;
    if (input?.snapshot === true) return respond(c, api, await store.createSnapshot(label === undefined ? {} : { label }), 'plain', 201);
    if (typeof input?.file !== 'string') throw new ConfigPersistenceError('E_VALIDATION', 'body must be { file, label? } or { snapshot: true, label? }');
    return respond(c, api, await store.createBackup(input.file, label === undefined ? {} : { label }), 'plain', 201);
  });
  app.post('/api/v1/backups/cleanup', async (c) => {
    // A chunked request has no content-length: its selection must not be taken for "everything".
    const sent = (c.req.header('content-length') ?? '0') !== '0' || c.req.header('transfer-encoding') !== undefined;
    const input = sent ? await body(c, api) : {};
    return respond(c, api, await store.cleanupBackups(input ?? {}));
  });
  app.post('/api/v1/backups/:id/restore', async (c) => respond(c, api, await store.restoreBackup(c.req.param('id'), meta)));
  app.delete('/api/v1/backups/:id', async (c) => respond(c, api, { deleted: await store.deleteBackup(c.req.param('id')) }));
}

function registerHistory(app: Hono, api: Api): void {
  const { store } = api;
  app.get('/api/v1/history/:file', async (c) => respond(c, api, { file: c.req.param('file'), versions: await store.history(c.req.param('file')) }));
  app.get('/api/v1/history/:file/:version', async (c) => {
    const file = c.req.param('file');
    const version = intParam(c.req.param('version'), 'version');
    return respond(c, api, { file, version, data: redactData(api, await store.getVersion(file, version)) });
  });
  app.get('/api/v1/diff/:file', async (c) => {
    const from = intParam(c.req.query('from'), 'from');
    const to = c.req.query('to') === undefined ? undefined : intParam(c.req.query('to'), 'to');
    return respond(c, api, { changes: redactChanges(await store.diff(c.req.param('file'), from, to), api.schema()) });
  });
  app.post('/api/v1/history/:file/rollback', async (c) => {
    const input = await body(c, api);
    return respond(c, api, await store.rollback(c.req.param('file'), intParam(String(input?.version), 'version'), meta));
  });
}

function registerOperations(app: Hono, api: Api): void {
  const { store } = api;
  app.post('/api/v1/export', async (c) => {
    // A chunked request has no content-length: its selection must not be taken for "everything".
    const sent = (c.req.header('content-length') ?? '0') !== '0' || c.req.header('transfer-encoding') !== undefined;
    const input = sent ? await body(c, api) : {};
    // A bundle leaving the process is encrypted whenever the store has a key (docs/encryption.md), whatever the body asks.
    const selection = { ...((input ?? {}) as object), ...(store.encryptionKeyId !== undefined ? { encrypt: true } : {}) };
    return respond(c, api, await store.exportBundle(selection));
  });
  app.post('/api/v1/import', async (c) => {
    const onConflict = c.req.query('onConflict') ?? 'skip';
    if (onConflict !== 'skip' && onConflict !== 'rename' && onConflict !== 'overwrite') throw new ConfigPersistenceError('E_VALIDATION', `onConflict must be skip, rename or overwrite, got ${onConflict}`);
    const bundle = await body(c, api);
    if (bundle === null || typeof bundle !== 'object' || Array.isArray(bundle)) throw new ConfigPersistenceError('E_VALIDATION', 'body must be a bundle object');
    return respond(c, api, await store.importBundle(bundle, { onConflict, dryRun: c.req.query('dryRun') === '1', ...meta }));
  });
  app.get('/api/v1/verify', async (c) => respond(c, api, await store.verify()));
  app.post('/api/v1/repair', async (c) => respond(c, api, await store.repair({ dryRun: c.req.query('dryRun') === '1' })));
  app.get('/api/v1/stats', async (c) => respond(c, api, await store.stats()));
  app.get('/api/v1/events', (c) => events(c, api));
  app.get('/api/v1/audit', async (c) => {
    const limit = c.req.query('limit') === undefined ? 100 : intParam(c.req.query('limit'), 'limit');
    const text = Buffer.from((await api.audit()) ?? new Uint8Array()).toString('utf8');
    // A torn last line (a writer killed mid-append) is not an entry; newest first.
    const entries = text.split('\n').flatMap((line) => { try { return line ? [JSON.parse(line) as unknown] : []; } catch { return []; } });
    return respond(c, api, { entries: entries.reverse().slice(0, limit) });
  });
}

/** Server-sent events: a `change` message per committed change set, a comment every 15 s so proxies keep the stream. */
function events(c: HonoContext, api: Api): Response {
  let stop = (): void => undefined;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      const enc = new TextEncoder();
      controller.enqueue(enc.encode(': connected\n\n'));
      const unsubscribe = api.events.subscribe((event) => {
        const changes = redactChanges(event.changes, api.schema());
        controller.enqueue(enc.encode(`event: change\ndata: ${JSON.stringify({ ...event, changes })}\n\n`));
      });
      const ping = setInterval(() => controller.enqueue(enc.encode(': ping\n\n')), 15000);
      stop = () => {
        clearInterval(ping);
        unsubscribe();
      };
    },
    cancel() {
      stop();
    },
  });
  return new Response(stream, { headers: { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' } });
}

function redactChanges(changes: unknown, schema: object | undefined): unknown {
  if (schema === undefined || !Array.isArray(changes)) return changes;
  return changes.map((ch: { path: string; [k: string]: unknown }) => {
    const masked: Record<string, unknown> = { ...ch };
    for (const key of ['oldValue', 'newValue'] as const) {
      if (key in masked) masked[key] = redactPathValue(schema, ch.path, masked[key]);
    }
    return masked;
  });
}

function redactPathValue(schema: object, dotPath: string, value: unknown): unknown {
  // Build the one-path document and redact it: the same decision as for whole documents.
  const segments = dotPath.split('.');
  const doc: Record<string, unknown> = {};
  let at = doc;
  segments.slice(0, -1).forEach((s) => { at = (at[s] = {}) as Record<string, unknown>; });
  at[segments[segments.length - 1]!] = value;
  let out: unknown = redact(doc, schema);
  for (const s of segments) out = (out as Record<string, unknown>)[s];
  return out;
}
