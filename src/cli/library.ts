/**
 * The library as the command line loads it: on first use (so `--help` and usage errors never load
 * ajv or the codecs), and through this one module. One dynamic import target lets the build put
 * the code the library entry and the CLI share into as few chunks as possible (each extra chunk is
 * one more module an application's cold start loads).
 */
export { ConfigPersistence } from '../api/config-persistence.js';
export { Configuration } from '../api/configuration.js';
export { LocalStorage } from '../storage/local/local.js';
export { CodecRegistry } from '../codecs/index.js';
export { EncryptedStorage } from '../encryption/storage.js';
export { resolveKey } from '../encryption/key-source.js';
export { readSettings } from '../core/settings.js';
