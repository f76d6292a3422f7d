/** The shared feature suite (test/features/suite.ts) on EtcdStorage, against a real etcd member. */
import { randomBytes } from 'node:crypto';
import { EtcdStorage } from '../src/storage/etcd/index.js';
import { featureSuite } from './features/suite.js';
import { startEtcd, type EtcdCluster } from './helpers/etcd.js';

let member: Promise<EtcdCluster> | undefined;

featureSuite({
  name: 'EtcdStorage',
  async make() {
    const { endpoints } = await (member ??= startEtcd(1));
    const prefix = `f-${randomBytes(6).toString('hex')}/`;
    return { storage: new EtcdStorage({ endpoints, prefix }), other: () => new EtcdStorage({ endpoints, prefix }) };
  },
});
