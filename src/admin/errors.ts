/**
 * The admin server's mapping from the library's stable error codes to HTTP statuses, and the one
 * JSON shape every error response has: `{ error: { code, message, issues? } }`.
 */
import { ConfigPersistenceError, ValidationError, type ErrorCode } from '../errors.js';

/**
 * Status per code. E_PARSE is 400: the request carried text that is not a document at all, which is
 * a malformed request rather than a well-formed one the schema rejects (that is E_VALIDATION, 422).
 */
const STATUS: Record<ErrorCode, number> = {
  E_PARSE: 400,
  E_VALIDATION: 422,
  E_NOT_FOUND: 404,
  E_INVALID_NAME: 400,
  E_CONFLICT: 409,
  E_LOCKED: 423,
  E_CHECKSUM: 500,
  E_TOO_LARGE: 413,
  E_UNSUPPORTED: 400,
  E_IO: 500,
  E_CLOSED: 500,
};

/** The body of an error response. */
export interface ErrorBody {
  error: { code: string; message: string; issues?: unknown };
}

/** The HTTP status and JSON body for anything thrown while serving a request. */
export function errorResponse(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof ConfigPersistenceError) {
    const issues = err instanceof ValidationError ? err.issues : undefined;
    const body: ErrorBody = { error: { code: err.code, message: err.message } };
    if (issues !== undefined) body.error.issues = issues;
    return { status: STATUS[err.code] ?? 500, body };
  }
  // Not one of ours: report a generic failure without leaking internals (stack, paths) to the client.
  return { status: 500, body: { error: { code: 'E_INTERNAL', message: 'internal error' } } };
}
