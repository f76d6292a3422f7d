/** The encrypted object format (src/encryption/cipher.ts): keys, sealing, and every way opening must fail. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HEADER_BYTES, isSealed, keyIdIn, open, OVERHEAD, parseKey, seal } from '../src/encryption/cipher.js';
import { DecryptionError } from '../src/errors.js';

const hex = randomBytes(32).toString('hex');
const key = parseKey(hex);

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DecryptionError);
    expect((err as DecryptionError).code).toBe('E_CHECKSUM');
    expect((err as DecryptionError).object).toBe('the thing');
    expect((err as Error).message).toContain('the thing');
    return (err as DecryptionError).reason;
  }
  return undefined;
}

describe('keys', () => {
  it('accepts 32 bytes as raw bytes, 64 hex digits, base64 and base64url, all with the same id', () => {
    const raw = Buffer.from(hex, 'hex');
    const ids = [parseKey(raw), parseKey(` ${hex.toUpperCase()}\n`), parseKey(raw.toString('base64')), parseKey(raw.toString('base64url'))].map((k) => k.id);
    expect(new Set(ids)).toEqual(new Set([key.id]));
    expect(key.id).toMatch(/^[0-9a-f]{16}$/);
    expect(parseKey(randomBytes(32)).id).not.toBe(key.id);
  });

  it('refuses anything else with E_VALIDATION that says how to make a key and never repeats it', () => {
    for (const bad of ['secret', hex.slice(2), `${hex}00`, randomBytes(16).toString('base64'), randomBytes(31), '']) {
      let caught: unknown;
      try {
        parseKey(bad as string, 'CONFIG_PERSISTENCE_KEY');
      } catch (err) {
        caught = err;
      }
      expect((caught as { code?: string }).code).toBe('E_VALIDATION');
      expect((caught as Error).message).toContain('CONFIG_PERSISTENCE_KEY');
      expect((caught as Error).message).toContain('randomBytes(32)');
      if (typeof bad === 'string' && bad.length > 4) expect((caught as Error).message).not.toContain(bad);
    }
  });
});

describe('seal and open', () => {
  const plain = Buffer.from('password: hunter2-marker\n');

  it('round-trips with a fresh nonce each time, the header naming the key', () => {
    const a = seal(key, plain);
    const b = seal(key, plain);
    expect(a.byteLength).toBe(plain.byteLength + OVERHEAD);
    expect(a.equals(b)).toBe(false);
    expect(isSealed(a)).toBe(true);
    expect(keyIdIn(a)).toBe(key.id);
    expect(a.includes(Buffer.from('hunter2'))).toBe(false);
    expect(open(key, a, 'the thing').equals(plain)).toBe(true);
    expect(open(key, seal(key, new Uint8Array(0)), 'the thing').byteLength).toBe(0);
  });

  it('a missing key, another key, plain bytes: no-key, wrong-key, not-encrypted', () => {
    const sealed = seal(key, plain);
    expect(reasonOf(() => open(undefined, sealed, 'the thing'))).toBe('no-key');
    expect(reasonOf(() => open(parseKey(randomBytes(32)), sealed, 'the thing'))).toBe('wrong-key');
    expect(reasonOf(() => open(key, plain, 'the thing'))).toBe('not-encrypted');
  });

  it('any changed byte — version, key id, nonce, ciphertext, tag — or a cut is damaged, never garbage', () => {
    const sealed = seal(key, plain);
    const positions = { version: 4, nonce: 13, 'last nonce byte': HEADER_BYTES - 1, ciphertext: HEADER_BYTES + 3, tag: sealed.byteLength - 1 };
    for (const [, at] of Object.entries(positions)) {
      const bad = Buffer.from(sealed);
      bad[at]! ^= 0x01;
      expect(reasonOf(() => open(key, bad, 'the thing'))).toBe('damaged');
    }
    // A changed key id reads as another key (it is not ours); the tag would fail too.
    const otherId = Buffer.from(sealed);
    otherId[6]! ^= 0x01;
    expect(reasonOf(() => open(key, otherId, 'the thing'))).toBe('wrong-key');
    expect(reasonOf(() => open(key, sealed.subarray(0, sealed.byteLength - 1), 'the thing'))).toBe('damaged');
    expect(reasonOf(() => open(key, sealed.subarray(0, 20), 'the thing'))).toBe('damaged');
  });
});
