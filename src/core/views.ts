/**
 * Views of an object with one member answered differently: what a write's scope travels in
 * (src/storage/etcd/for-write.ts) and how the encryption layer sits over a scoped storage.
 */

/**
 * `target` with `key` reading as `value`. Methods called on the view run with the view as `this`,
 * so they see `value` too; a property set through the view lands on `target` (no trap), so state
 * the methods keep stays the object's own.
 */
export function overriding<T extends object>(target: T, key: PropertyKey, value: unknown): T {
  return new Proxy(target, { get: (t, p, receiver) => (p === key ? value : Reflect.get(t, p, receiver)) });
}
