import { describe, expect, it } from 'vitest';
import { hostAllowed, newToken, originAllowed, tokenMatches } from '../src/admin/security.js';
import { errorResponse } from '../src/admin/errors.js';
import { NotFoundError, ValidationError } from '../src/errors.js';

describe('admin security rules', () => {
  it('accepts only the exact bearer token', () => {
    const t = newToken();
    expect(tokenMatches(`Bearer ${t}`, t)).toBe(true);
    expect(tokenMatches(undefined, t)).toBe(false);
    expect(tokenMatches(`Bearer ${t}x`, t)).toBe(false);
    expect(tokenMatches(t, t)).toBe(false);
  });
  it('accepts only the bound host or localhost with the port', () => {
    expect(hostAllowed('127.0.0.1:4800', '127.0.0.1', 4800)).toBe(true);
    expect(hostAllowed('localhost:4800', '127.0.0.1', 4800)).toBe(true);
    expect(hostAllowed('evil.example:4800', '127.0.0.1', 4800)).toBe(false);
    expect(hostAllowed('127.0.0.1:4801', '127.0.0.1', 4800)).toBe(false);
    expect(hostAllowed(undefined, '127.0.0.1', 4800)).toBe(false);
  });
  it('refuses foreign origins and cross-site fetches', () => {
    const own = ['http://127.0.0.1:4800'];
    expect(originAllowed('http://127.0.0.1:4800', 'same-origin', own)).toBe(true);
    expect(originAllowed(undefined, undefined, own)).toBe(true);
    expect(originAllowed('http://evil.example', undefined, own)).toBe(false);
    expect(originAllowed(undefined, 'cross-site', own)).toBe(false);
  });
  it('maps codes to statuses', () => {
    expect(errorResponse(new NotFoundError('x')).status).toBe(404);
    const v = errorResponse(new ValidationError('a.json', [{ path: '/a', message: 'bad' } as never]));
    expect(v.status).toBe(422);
    expect(v.body.error.issues).toHaveLength(1);
    expect(errorResponse(new Error('boom')).body.error.code).toBe('E_INTERNAL');
  });
});
