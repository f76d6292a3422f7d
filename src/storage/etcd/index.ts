/**
 * `config-persistence/etcd`: the etcd backend. `etcd3` is an optional peer dependency, loaded when
 * an EtcdStorage first reaches the cluster.
 */
export { EtcdStorage } from './etcd.js';
export type { EtcdStorageOptions } from './etcd.js';
