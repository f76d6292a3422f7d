/**
 * A listener process of the etcd watch-propagation scenario (bench/etcd.mjs): watches one key, as
 * the library (`store`) or as a bare etcd3 watch (`bare`), prints "ready" once armed and
 * "got <seq> <epoch ms>" for each change it hears, on the same clock as the saving process.
 * Usage: node etcd-listener.mjs <store|bare> <client url> <dist dir>
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [mode, url, dist] = process.argv.slice(2);
const stamp = () => performance.timeOrigin + performance.now();
const heard = (seq) => process.stdout.write(`got ${seq} ${stamp()}\n`);

if (mode === 'bare') {
  const { Etcd3 } = await import('etcd3');
  const client = new Etcd3({ hosts: [url] });
  const watcher = await client.watch().key('bare/prop.json').create();
  watcher.on('put', (kv) => heard(JSON.parse(kv.value.toString()).seq));
} else {
  const { ConfigPersistence } = await import(pathToFileURL(path.join(dist, 'index.js')).href);
  const { EtcdStorage } = await import(pathToFileURL(path.join(dist, 'etcd.js')).href);
  const store = new ConfigPersistence({ storage: new EtcdStorage({ endpoints: [url], prefix: 'bench/' }), validatorCache: false });
  await store.watch('prop.json', ({ data }) => heard(data.seq), { onError: (err) => process.stderr.write(`${err.message}\n`) });
}
process.stdout.write('ready\n');
process.stdin.resume(); // runs until the bench ends it
