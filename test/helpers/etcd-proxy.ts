/**
 * A TCP proxy in front of one etcd member that loses a request's answer on purpose: armed with a
 * byte string that only one request carries (a document's content), it cuts the client's
 * connection when that request passes, in one of these ways:
 * - `applied`: the request goes on to etcd (which applies it); its answer never comes back;
 * - `dropped`: the request never reaches etcd;
 * - `held`: the request is kept (the member's side of the connection stays open) until
 *   {@link LossProxy.deliver} sends it on: a transaction still in flight after the loss;
 * - `blackhole`: like `dropped`, and every connection made afterwards hangs (no member answers).
 * - `delayed`: nothing is cut: the request (and what follows it on that connection) reaches etcd
 *   {@link DELAYED_MS} later, as from a slow network — time for something to happen in between (`onCut`).
 * Every other connection and byte passes unchanged; a cut happens once per arming.
 */
import { createServer, connect, type Socket } from 'node:net';
import { afterAll } from 'vitest';

export type LossMode = 'applied' | 'dropped' | 'held' | 'blackhole' | 'delayed';

/** How long a `delayed` arming holds its request back (ms). */
export const DELAYED_MS = 300;

export interface LossProxy {
  /** `http://127.0.0.1:<port>`: give it to the client instead of the member's URL. */
  url: string;
  /**
   * Cuts the connection that carries `needle`, the way `mode` says; resolves at once. `onCut` runs
   * at the moment of the cut, before the client can try again (e.g. to pause members).
   */
  arm(needle: string, mode: LossMode, onCut?: () => void): void;
  /** How many cuts were made. */
  readonly cuts: number;
  /** Sends a `held` request on to etcd now; resolves once etcd has had time to answer it (the answer is dropped). */
  deliver(): Promise<void>;
  /** Lets connections through again after `blackhole`. */
  open(): void;
  close(): Promise<void>;
}

const proxies = new Set<LossProxy>();
afterAll(async () => {
  await Promise.all([...proxies].map((p) => p.close()));
});

/**
 * A proxy to `target` (a member's client URL). `delayMs` holds every byte the client sends that
 * long before passing it on: each round trip to etcd then costs at least that, so a call's time
 * counts its round trips.
 */
export async function lossProxy(target: string, opts: { delayMs?: number } = {}): Promise<LossProxy> {
  const { hostname, port } = new URL(target);
  let armed: { needle: Buffer; mode: LossMode; onCut: (() => void) | undefined } | undefined;
  /** Bumped by each arm(): bytes a connection carried before it must not complete a match. */
  let arming = 0;
  let cuts = 0;
  let blackhole = false;
  let held: { upstream: Socket; bytes: Buffer[] } | undefined;
  const sockets = new Set<Socket>();
  const track = (s: Socket): Socket => {
    s.setNoDelay(true); // as gRPC's own sockets: no Nagle stalls that would be the proxy's, not etcd's
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined); // a cut connection's errors are the point of this proxy
    return s;
  };

  const server = createServer((client) => {
    track(client);
    if (blackhole) return; // accepted, never answered
    const upstream = track(connect(Number(port), hostname));
    let tail = Buffer.alloc(0);
    let tailArming = arming;
    let muted = false;
    /** Bytes held back by a `delayed` arming, sent in order when it ends. */
    let delaying: Buffer[] | undefined;
    upstream.on('data', (chunk: Buffer) => {
      if (!muted) client.write(chunk);
    });
    upstream.on('close', () => client.destroy());
    client.on('close', () => {
      if (held?.upstream !== upstream) upstream.destroy();
    });
    client.on('data', (chunk: Buffer) => {
      if (delaying) {
        delaying.push(chunk);
        return;
      }
      if (muted) {
        if (held?.upstream === upstream) held.bytes.push(chunk);
        else if (!client.destroyed) upstream.write(chunk);
        return;
      }
      if (tailArming !== arming) [tail, tailArming] = [Buffer.alloc(0), arming];
      const seen = Buffer.concat([tail, chunk]);
      tail = seen.subarray(Math.max(0, seen.length - 256));
      const cut = armed && seen.includes(armed.needle) ? armed.mode : undefined;
      const onCut = armed?.onCut;
      if (!cut) {
        if (opts.delayMs) setTimeout(() => upstream.write(chunk), opts.delayMs); // equal delays fire in order
        else upstream.write(chunk);
        return;
      }
      armed = undefined;
      cuts++;
      if (cut === 'delayed') {
        const queue = (delaying = [chunk]);
        onCut?.();
        setTimeout(() => {
          delaying = undefined;
          for (const c of queue) upstream.write(c);
        }, DELAYED_MS);
        return;
      }
      muted = true;
      onCut?.();
      if (cut === 'applied') {
        upstream.write(chunk);
        setTimeout(() => client.resetAndDestroy(), 300); // etcd has applied it by then; its answer went nowhere
      } else if (cut === 'held') {
        held = { upstream, bytes: [chunk] };
        client.resetAndDestroy();
      } else {
        if (cut === 'blackhole') blackhole = true;
        client.resetAndDestroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: LossProxy = {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    arm(needle, mode, onCut) {
      armed = { needle: Buffer.from(needle), mode, onCut };
      arming++;
    },
    get cuts() {
      return cuts;
    },
    async deliver() {
      if (!held) throw new Error('nothing is held');
      const { upstream, bytes } = held;
      const answered = new Promise<void>((resolve) => upstream.once('data', () => resolve()));
      for (const b of bytes) upstream.write(b);
      await answered;
      await new Promise((r) => setTimeout(r, 300)); // the first bytes back may be flow control: let the answer follow
      held = undefined;
      upstream.destroy();
    },
    open() {
      blackhole = false;
    },
    async close() {
      proxies.delete(proxy);
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  proxies.add(proxy);
  return proxy;
}
