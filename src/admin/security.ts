/**
 * The admin server's request checks, as pure functions so each rule is testable on its own:
 * the bearer token (constant-time), the Host header (DNS rebinding) and the origin of
 * state-changing requests (CSRF for JSON bodies, which form-only checks miss).
 */
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';

/** A fresh random token: 32 bytes, base64url. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** True when the `Authorization` header carries exactly `Bearer <token>`, compared in constant time. */
export function tokenMatches(header: string | undefined, token: string): boolean {
  const given = header?.startsWith('Bearer ') ? header.slice(7) : '';
  // Hash both sides so the comparison has equal lengths and leaks neither length nor prefix.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b) && given.length > 0;
}

/** True when `Host` names the bound address or `localhost`, with the bound port. */
export function hostAllowed(host: string | undefined, boundHost: string, port: number): boolean {
  if (!host) return false;
  const bound = boundHost.includes(':') ? `[${boundHost}]` : boundHost;
  return host === `${bound}:${port}` || host === `localhost:${port}`;
}

/** True when a state-changing request comes from the server's own page (or from no browser page). */
export function originAllowed(
  origin: string | undefined,
  fetchSite: string | undefined,
  ownOrigins: readonly string[],
): boolean {
  if (origin !== undefined && !ownOrigins.includes(origin)) return false;
  if (fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none') return false;
  return true;
}
