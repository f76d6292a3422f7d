/**
 * `createAdminServer`: the HTTP API and the web page (./page.ts) over a {@link ConfigPersistence}, on
 * hono + @hono/node-server. Both are imported only here and only when a server is created, so an
 * application that never serves pays nothing for them.
 */
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Context as HonoContext, Hono, MiddlewareHandler } from 'hono';
import type { ConfigPersistence } from '../api/config-persistence.js';
import { STORE } from '../api/store.js';
import { Configuration } from '../api/configuration.js';
import { ConfigPersistenceError } from '../errors.js';
import type { Storage } from '../storage/types.js';
import { errorResponse } from './errors.js';
import { AUDIT_LOG } from '../changeset/audit.js';
import { hostAllowed, newToken, originAllowed, tokenMatches } from './security.js';
import { registerRoutes, type Api } from './routes.js';

/** Options of {@link createAdminServer}. */
export interface AdminServerOptions {
  /** The store to serve (any storage backend). */
  store: ConfigPersistence<any>;
  /** Address to bind. Default `127.0.0.1`: loopback only unless a host is given explicitly. */
  host?: string;
  /** Port; `0` picks a free one. Default 4800. */
  port?: number;
  /** Bearer token; default a fresh random one per start. */
  token?: string;
}

/** A running admin server. */
export interface AdminServer {
  /** The page's address, e.g. `http://127.0.0.1:4800/`. */
  url: string;
  /** The bearer token every `/api/` request needs. */
  token: string;
  /** Where the token was written (`<baseDir>/.admin-token`, mode 0600), unless the backend has no directory. */
  tokenFile?: string;
  /** Stops listening, ends event streams and removes the token file. */
  close(): Promise<void>;
}

/** The response headers every answer carries: no framing, no sniffing, no referrer, no caching, nothing foreign. */
const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const STATE_CHANGING = new Set(['POST', 'PUT', 'DELETE', 'PATCH']);

/**
 * Starts the admin server over `options.store`: bound to loopback unless `host` is given, with a
 * bearer token (random per start unless given) written to `<baseDir>/.admin-token` with mode 0600.
 */
export async function createAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const { store } = options;
  const ctx = store[STORE].ctx;
  await store[STORE].ready();
  await ctx.schema.ready();
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? newToken();
  if (token.length < 16) throw new ConfigPersistenceError('E_VALIDATION', 'the admin token must be at least 16 characters');
  const [{ Hono }, { serve }] = await Promise.all([import('hono'), import('@hono/node-server')]);
  const schema = ctx.schema.isReady ? ctx.schema.document : undefined;
  // The effective configuration must validate with the store's schema, not one found from the cwd.
  // On the store's own storage (any backend), which closing the Configuration must not close.
  const storage = borrowed(ctx.storage);
  const open: Api['openConfiguration'] = (extra = {}) => Configuration.open({ baseDir: store.baseDir, storage, schemaDir: ctx.options.schemaDir, ...(schema === undefined ? {} : { schema }), ...extra });
  const events = await openEvents(open);
  const app = new Hono();
  const bound = { port: 0 };
  app.use('*', guard(host, bound, token));
  const api: Api = { store, schema: () => schema, maxBodyBytes: ctx.options.maxFileBytes, events, openConfiguration: open, audit: () => ctx.storage.read(AUDIT_LOG) };
  registerRoutes(app, api);
  // The page's code is inlined in its own module (large), loaded on the first request for it.
  app.get('/', async (c) => (await import('./page.js')).answer(c, 'index'));
  app.get('/assets/:name', async (c) => (await import('./page.js')).answer(c, c.req.param('name')));
  app.onError((err, c) => sendError(c, err));
  app.notFound((c) => sendError(c, new ConfigPersistenceError('E_NOT_FOUND', `no such endpoint: ${c.req.method} ${c.req.path}`)));
  const server = await listen(serve, app, host, options.port ?? 4800);
  bound.port = (server.address() as AddressInfo).port;
  let tokenFile: string | undefined;
  try {
    tokenFile = await writeTokenFile(store, token);
  } catch (err) {
    // Nothing half-done: a server whose token could not be stored does not stay up.
    await new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); });
    await events.configuration?.close();
    throw err;
  }
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${bound.port}/`,
    token,
    ...(tokenFile === undefined ? {} : { tokenFile }),
    close: async () => {
      events.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await events.configuration?.close();
      if (tokenFile !== undefined) await removeTokenFile(store);
    },
  };
}

/** Sends any thrown value as `{ error: { code, message, issues? } }` with its status. */
export function sendError(c: HonoContext, err: unknown): Response {
  const { status, body } = errorResponse(err);
  return c.json(body, status as 400);
}

/** Host (DNS rebinding), token and origin checks, then the security headers on whatever is answered. */
function guard(host: string, bound: { port: number }, token: string): MiddlewareHandler {
  return async (c, next) => {
    const own = ownOrigins(host, bound.port);
    const refusal = refuse(c, host, bound.port, token, own);
    if (refusal !== undefined) {
      const res = c.json({ error: { code: refusal.code, message: refusal.message } }, refusal.status as 401);
      for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.headers.set(k, v);
      return res;
    }
    await next();
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(k, v);
  };
}

function refuse(c: HonoContext, host: string, port: number, token: string, own: string[]): { status: number; code: string; message: string } | undefined {
  if (!hostAllowed(c.req.header('host'), host, port)) return { status: 403, code: 'E_FORBIDDEN', message: 'Host header is not this server (DNS rebinding protection)' };
  if (STATE_CHANGING.has(c.req.method) && !originAllowed(c.req.header('origin'), c.req.header('sec-fetch-site'), own)) {
    return { status: 403, code: 'E_FORBIDDEN', message: 'cross-origin state-changing request refused' };
  }
  if (c.req.path.startsWith('/api/') && !tokenMatches(c.req.header('authorization'), token)) {
    return { status: 401, code: 'E_UNAUTHORIZED', message: 'missing or wrong bearer token' };
  }
  return undefined;
}

function ownOrigins(host: string, port: number): string[] {
  const shown = host.includes(':') ? `[${host}]` : host;
  return [`http://${shown}:${port}`, `http://localhost:${port}`];
}

type ServeFn = typeof import('@hono/node-server').serve;

function listen(serve: ServeFn, app: Hono, host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, () => resolve(server as Server)) as Server;
    server.once('error', (err: NodeJS.ErrnoException) => reject(new ConfigPersistenceError('E_IO', `cannot listen on ${host}:${port}: ${err.code ?? err.message}`, { cause: err })));
  });
}

/** Where the token is kept for local tools, under the store's directory. */
const TOKEN_KEY = '.admin-token';

/**
 * Writes the token for local tools, through the store's storage (an atomic, durable put); a backend
 * without a directory (etcd) has no place for it: a token there would reach every member's readers.
 */
async function writeTokenFile(store: ConfigPersistence<any>, token: string): Promise<string | undefined> {
  if (!path.isAbsolute(store.baseDir)) return undefined;
  const storage = store[STORE].ctx.storage;
  const file = path.join(store.baseDir, TOKEN_KEY);
  try {
    // Removed first: a put keeps an existing file's permission bits, and a leftover may be readable.
    if (await storage.stat(TOKEN_KEY)) await storage.commit({ changes: [{ type: 'remove', key: TOKEN_KEY }] });
    await storage.commit({ changes: [{ type: 'put', key: TOKEN_KEY, data: Buffer.from(`${token}\n`), mode: 0o600 }] });
    return file;
  } catch (err) {
    throw new ConfigPersistenceError('E_IO', `cannot write the admin token to ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Removes the token written by {@link writeTokenFile} (best effort: the server is going away). */
async function removeTokenFile(store: ConfigPersistence<any>): Promise<void> {
  await store[STORE].ctx.storage.commit({ changes: [{ type: 'remove', key: TOKEN_KEY }] }).catch(() => undefined);
}

/** `storage` with every call forwarded but `close()`: it stays the store's to close. */
function borrowed(storage: Storage): Storage {
  return new Proxy(storage, {
    get(target, prop) {
      if (prop === 'close') return async () => undefined;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Subscribers of `GET /api/v1/events`: one message per committed change set of the effective configuration. */
export interface EventHub {
  configuration?: Configuration;
  subscribe(fn: (event: { changes: unknown; at: string }) => void): () => void;
  close(): void;
}

async function openEvents(open: Api['openConfiguration']): Promise<EventHub> {
  const subscribers = new Set<(event: { changes: unknown; at: string }) => void>();
  const configuration = await open({ watch: true });
  configuration.on('change', (e) => {
    const event = { changes: e.changes, at: new Date().toISOString() };
    for (const fn of subscribers) fn(event);
  });
  configuration.on('error', () => undefined); // invalid external edits are reported by verify, not the stream
  return {
    configuration,
    subscribe(fn) {
      subscribers.add(fn);
      return () => subscribers.delete(fn);
    },
    close() {
      subscribers.clear();
    },
  };
}
