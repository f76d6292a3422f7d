/**
 * Real etcd for tests: a single member or a 3-member cluster on 127.0.0.1, each member a child
 * process with free client and peer ports and its data in a temporary directory. Members can be
 * killed, frozen (SIGSTOP) and restarted; everything started is stopped after the file's tests and
 * when the test process exits. A missing etcd binary fails the test (CI installs it), never skips.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach } from 'vitest';
import { EtcdStorage } from '../../src/storage/etcd/index.js';

/** The etcd binary: `ETCD_BIN`, else `/usr/bin/etcd`, else `etcd` on the PATH. */
export const ETCD_BIN = process.env.ETCD_BIN ?? (existsSync('/usr/bin/etcd') ? '/usr/bin/etcd' : 'etcd');

/** One member of a cluster. */
export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  process: ChildProcess | undefined;
}

/** A running cluster (one member or three). */
export interface EtcdCluster {
  members: EtcdMember[];
  /** Every member's client URL. */
  endpoints: string[];
  /** SIGKILL member `i` (its data stays, {@link restart} brings it back). */
  kill(i: number): Promise<void>;
  /** SIGSTOP member `i`; {@link resume} continues it. */
  pause(i: number): void;
  resume(i: number): void;
  /** Starts a killed member again on the same ports and data. */
  restart(i: number): Promise<void>;
  /** The index of the current leader. */
  leader(): Promise<number>;
  /** Stops every member and removes the data. */
  stop(): Promise<void>;
}

/** How members are started: `flags` are added to every member's command line (e.g. `['--max-txn-ops', '32']`). */
export interface MemberOptions {
  flags?: readonly string[];
}

const running = new Set<EtcdCluster>();

process.on('exit', () => {
  for (const cluster of running) for (const m of cluster.members) m.process?.kill('SIGKILL');
});

afterAll(async () => {
  await Promise.all([...running].map((c) => c.stop()));
});

/**
 * One member for a test file, started on first use (the module's afterAll stops it), and a list of
 * what each test opened, closed after it: the setup every single-member etcd test file shares.
 */
export function oneMember(opts: MemberOptions = {}): { etcd: () => Promise<EtcdCluster>; opened: Array<{ close(): Promise<void> }> } {
  let member: Promise<EtcdCluster> | undefined;
  const opened: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });
  return { etcd: () => (member ??= startEtcd(1, opts)), opened };
}

/** A free TCP port on 127.0.0.1. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

function checkBinary(): void {
  const probe = spawnSync(ETCD_BIN, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(`etcd is not installed (${ETCD_BIN}: ${probe.error?.message ?? probe.stderr}); install etcd-server (apt-get install etcd-server etcd-client) or set ETCD_BIN`);
  }
}

/**
 * Starts `size` members (1 or 3) and waits until the cluster answers writes. A port found free can
 * be taken by another test file's member before etcd binds it (the member then exits at once):
 * such a start is given up and made again on fresh ports, up to three times.
 */
export async function startEtcd(size = 1, opts: MemberOptions = {}): Promise<EtcdCluster> {
  checkBinary();
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(size, opts);
    } catch (err) {
      if (attempt >= 3 || !(err instanceof MemberExited)) throw err;
    }
  }
}

/** A member process ended while the cluster was starting (most likely: its port was taken). */
class MemberExited extends Error {}

async function startOnce(size: number, opts: MemberOptions): Promise<EtcdCluster> {
  const token = `cp-test-${process.pid}-${Date.now()}`;
  const members: EtcdMember[] = [];
  for (let i = 0; i < size; i++) {
    const [client, peer] = [await freePort(), await freePort()];
    members.push({
      name: `m${i}`,
      clientUrl: `http://127.0.0.1:${client}`,
      peerUrl: `http://127.0.0.1:${peer}`,
      dataDir: mkdtempSync(path.join(os.tmpdir(), 'cp-etcd-')),
      process: undefined,
    });
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  const launch = (m: EtcdMember, state: 'new' | 'existing'): void => {
    const args = [
      '--name', m.name, '--data-dir', m.dataDir,
      '--listen-client-urls', m.clientUrl, '--advertise-client-urls', m.clientUrl,
      '--listen-peer-urls', m.peerUrl, '--initial-advertise-peer-urls', m.peerUrl,
      '--initial-cluster', initialCluster, '--initial-cluster-state', state, '--initial-cluster-token', token,
      '--heartbeat-interval', '50', '--election-timeout', '500', '--auto-compaction-retention', '0',
      '--log-level', 'error', '--logger', 'zap',
      ...(opts.flags ?? []),
    ];
    const child = spawn(ETCD_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.resume();
    m.process = child;
  };
  for (const m of members) launch(m, 'new');
  let stopped = false;
  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.clientUrl),
    async kill(i) {
      const m = members[i]!;
      const child = m.process;
      m.process = undefined;
      if (!child || child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await gone;
    },
    pause: (i) => void members[i]!.process?.kill('SIGSTOP'),
    resume: (i) => void members[i]!.process?.kill('SIGCONT'),
    async restart(i) {
      await cluster.kill(i);
      launch(members[i]!, 'existing');
      await waitHealthy([members[i]!.clientUrl]);
    },
    async leader() {
      for (let i = 0; i < members.length; i++) {
        if (!members[i]!.process) continue;
        const status = await ctl([members[i]!.clientUrl], ['endpoint', 'status', '-w', 'json']).catch(() => undefined);
        if (!status) continue;
        const [entry] = JSON.parse(status) as Array<{ Status: { header: { member_id: number }; leader: number } }>;
        if (entry && String(entry.Status.header.member_id) === String(entry.Status.leader)) return i;
      }
      throw new Error('no leader');
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      running.delete(cluster);
      await Promise.all(members.map((_, i) => cluster.kill(i)));
      for (const m of members) rmSync(m.dataDir, { recursive: true, force: true });
    },
  };
  running.add(cluster);
  try {
    await waitHealthy(cluster.endpoints, () => members.find((m) => m.process?.exitCode !== null && m.process?.exitCode !== undefined));
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** `etcdctl --endpoints ... args`, resolving with its stdout. */
export function ctl(endpoints: readonly string[], args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('etcdctl', ['--endpoints', endpoints.join(','), '--command-timeout', '2s', ...args], {
      env: { ...process.env, ETCDCTL_API: '3' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`etcdctl ${args.join(' ')}: ${err.trim()}`))));
  });
}

/** Waits until every endpoint reports healthy (a write through raft succeeds), up to 20 s; `exited` names a member that died meanwhile. */
async function waitHealthy(endpoints: readonly string[], exited: () => EtcdMember | undefined = () => undefined): Promise<void> {
  const deadline = Date.now() + 20_000;
  let last: unknown;
  while (Date.now() < deadline) {
    const dead = exited();
    if (dead) throw new MemberExited(`etcd member ${dead.name} (${dead.clientUrl}) exited while the cluster was starting (code ${dead.process?.exitCode})`);
    try {
      await ctl(endpoints, ['endpoint', 'health']);
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`etcd did not become healthy at ${endpoints.join(',')}: ${String(last)}`);
}

/** Two storages on one prefix (two processes sharing a store), closed with the test's `opened`. */
export function twoStorages(endpoints: string[], prefix: string, opened: Array<{ close(): Promise<void> }>): [EtcdStorage, EtcdStorage] {
  const pair: [EtcdStorage, EtcdStorage] = [new EtcdStorage({ endpoints, prefix }), new EtcdStorage({ endpoints, prefix })];
  opened.push(...pair);
  return pair;
}
