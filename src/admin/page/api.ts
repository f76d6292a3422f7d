/**
 * Calls to `/api/v1/`: JSON in and out, the bearer token on every call, and errors as
 * {@link ApiError} carrying the server's `{ error: { code, message, issues } }`.
 */

/** One validation issue of a 422 answer: the dot path of the value and what is wrong with it. */
export interface Issue {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/** A refused call: HTTP status, the error code (`E_CONFLICT`, `E_VALIDATION`...) and message. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly issues: Issue[] = []) {
    super(message);
  }
}

let token = '';
let onUnauthorized = (): void => undefined;

/** Sets the token every call sends, and what to do when the server refuses it. */
export function useToken(value: string, unauthorized: () => void): void {
  token = value;
  onUnauthorized = unauthorized;
}

/** Reports a refused token (the event stream, which does not go through {@link call}). */
export function tokenRefused(): void {
  onUnauthorized();
}

/** The token calls send (the event stream reads it too). */
export function currentToken(): string {
  return token;
}

/** Options of {@link call}. */
export interface CallOptions {
  body?: unknown;
  headers?: Record<string, string>;
}

/** `method /api/v1/<path>`; resolves with the parsed JSON, rejects with an {@link ApiError}. */
export async function call<T = any>(method: string, path: string, opts: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...opts.headers };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`/api/v1/${path}`, { method, headers, ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }) });
  } catch (err) {
    throw new ApiError(0, 'E_NETWORK', `the admin server cannot be reached (${(err as Error).message}); is \`serve\` still running?`);
  }
  const text = await res.text();
  const parsed = parse(text);
  if (res.ok) return parsed as T;
  if (res.status === 401) onUnauthorized();
  const error = (parsed as { error?: { code?: string; message?: string; issues?: Issue[] } } | undefined)?.error;
  throw new ApiError(res.status, error?.code ?? `HTTP_${res.status}`, error?.message ?? (text || res.statusText), error?.issues ?? []);
}

function parse(text: string): unknown {
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch {
    // Not JSON (a proxy's page): the caller reports the status with the text.
    return undefined;
  }
}

/** A path segment for a file or profile name (`profiles/production.yaml` stays one segment). */
export function seg(name: string): string {
  return encodeURIComponent(name);
}
