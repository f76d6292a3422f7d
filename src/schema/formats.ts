/**
 * The formats module that validators from the validator cache require: ajv-formats' formats, with a
 * quick check in front of `uri`. V8 compiles a regular expression the first time it runs, and
 * ajv-formats' `uri` expression (2.5 KB, case-insensitive) takes ~5 ms to compile: a tenth of a
 * cold start, spent on `postgres://localhost:5432/shop`.
 *
 * The quick check accepts only strings that the full check accepts too (scheme `://` host, optional
 * port, path segments of unreserved characters: a strict subset of the RFC 3986 grammar that
 * ajv-formats implements; test/schema.test.ts checks it against the full check); every other string
 * goes to the full check. Results are unchanged, only the common case is cheaper.
 */
import { requireDependency } from '../core/lazy-deps.js';

interface FormatsModule {
  fullFormats: Record<string, unknown>;
  [name: string]: unknown;
}

/** scheme://host[:port][/path], unreserved characters only. */
export const SIMPLE_URI = /^[a-z][a-z0-9+.-]*:\/\/[a-z0-9._~-]+(?::[0-9]{1,5})?(?:\/[a-z0-9._~-]*)*$/i;

let formats: FormatsModule | undefined;

/** ajv-formats' formats module, `fullFormats.uri` with the quick check in front. */
export function formatsWithFastPaths(): FormatsModule {
  return (formats ??= withFastPaths(requireDependency<FormatsModule>('ajv-formats/dist/formats')));
}

function withFastPaths(real: FormatsModule): FormatsModule {
  const uri = real.fullFormats.uri;
  if (typeof uri !== 'function') return real; // a future ajv-formats changed its shape: use it as it is
  const full = uri as (value: string) => boolean;
  return { ...real, fullFormats: { ...real.fullFormats, uri: (value: string): boolean => SIMPLE_URI.test(value) || full(value) } };
}
