/**
 * Reads pinned to one revision while a compaction passes it: a journal's records are read at its
 * header's revision, and a range longer than a page is read page by page at the first page's. A
 * compaction in between (etcd's revision-mode auto-compaction on a busy cluster, or an operator's
 * `etcdctl compact`) made that revision unreadable and the read `E_IO`; it is read again whole,
 * at a fresh revision. Real member; the proxy holds the second request back while the test writes
 * and compacts.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { EtcdStorage } from '../src/storage/etcd/index.js';
import { oneMember } from './helpers/etcd.js';
import { lossProxy } from './helpers/etcd-proxy.js';

const { etcd, opened } = oneMember();

/** A write, then a compaction up to the revision it made: every earlier revision is gone. */
function writeAndCompact(endpoint: string): void {
  const ctl = (...args: string[]) => spawnSync('etcdctl', ['--endpoints', endpoint, ...args], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });
  const put = ctl('put', `compaction-${randomBytes(4).toString('hex')}`, 'x', '-w', 'json');
  const revision = (JSON.parse(put.stdout) as { header: { revision: number } }).header.revision;
  const compacted = ctl('compact', String(revision));
  if (compacted.status !== 0) throw new Error(`etcdctl compact: ${compacted.stderr}`);
}

async function setup(): Promise<{ storage: EtcdStorage; proxy: Awaited<ReturnType<typeof lossProxy>>; endpoint: string; prefix: string }> {
  const { endpoints } = await etcd();
  const proxy = await lossProxy(endpoints[0]!);
  const prefix = `compacted-${randomBytes(6).toString('hex')}/`;
  const storage = new EtcdStorage({ endpoints: [proxy.url], prefix, connectTimeoutMs: 1500 });
  opened.push(storage, proxy);
  return { storage, proxy, endpoint: endpoints[0]!, prefix };
}

describe('a read pinned to a revision that a compaction passes', () => {
  it("a journal's records, read at its header's revision, are read again at a fresh one", async () => {
    const { storage, proxy, endpoint, prefix } = await setup();
    for (const line of ['one\n', 'two\n']) await storage.commit({ after: [{ type: 'append', key: 'log', data: Buffer.from(line) }] });
    proxy.arm(`${prefix}j/log/`, 'delayed', () => writeAndCompact(endpoint));
    // Was E_IO: "mvcc: required revision has been compacted".
    expect(Buffer.from((await storage.read('log'))!).toString()).toBe('one\ntwo\n');
    expect(proxy.cuts).toBe(1);
    expect(storage.lastReadStale).toBe(false);
  });

  it("a commit's reads: a journal it copies, whose records are read at the revision of the keys, is read again", async () => {
    const { storage, proxy, endpoint, prefix } = await setup();
    for (const line of ['one\n', 'two\n']) await storage.commit({ after: [{ type: 'append', key: 'log', data: Buffer.from(line) }] });
    // A storage that has read nothing yet: its commit reads the keys it touches, then the journal's records.
    const fresh = new EtcdStorage({ endpoints: [proxy.url], prefix, connectTimeoutMs: 1500 });
    opened.push(fresh);
    proxy.arm(`${prefix}j/log/`, 'delayed', () => writeAndCompact(endpoint));
    // Was E_IO: "mvcc: required revision has been compacted", nothing written.
    await fresh.commit({ changes: [{ type: 'copy', from: 'log', to: 'log-copy' }] });
    expect(proxy.cuts).toBe(1);
    expect(Buffer.from((await fresh.read('log-copy'))!).toString()).toBe('one\ntwo\n');
  });

  it('a listing longer than a page, read page by page at the first page\'s revision, is read again whole', async () => {
    const { storage, proxy, endpoint, prefix } = await setup();
    const bare = new Etcd3({ hosts: [endpoint] });
    try {
      // 2,001 files: one page of 2,000 keys and a second one (src/storage/etcd/client.ts).
      const names = Array.from({ length: 2001 }, (_, i) => `f${String(i).padStart(4, '0')}`);
      for (let i = 0; i < names.length; i += 100) {
        await Promise.all(names.slice(i, i + 100).map((n) => bare.put(`${prefix}d/many/${n}`).value('x')));
      }
    } finally {
      bare.close();
    }
    // The second page starts just after the first page's last key.
    proxy.arm(`${prefix}d/many/f1999\0`, 'delayed', () => writeAndCompact(endpoint));
    const listed = await storage.fileNames('many');
    expect(listed.length).toBe(2001);
    expect(proxy.cuts).toBe(1);
    // Was answered only by the fallback for a cluster without a quorum, and flagged stale.
    expect(storage.lastReadStale).toBe(false);
  });
});
