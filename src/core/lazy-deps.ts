/**
 * Dependencies a cold `Configuration.open` does not need, loaded on first use.
 *
 * Importing `yaml`, `jsonc-parser` and ajv costs tens of milliseconds each at startup, while an
 * application that opens a valid configuration needs none of them: js-yaml reads plain YAML, the
 * validator comes precompiled from the validator cache (src/storage/local/validator-cache.ts), and environment
 * values are mostly plain scalars (src/api/env.ts). They are needed for positions in error messages,
 * YAML with anchors or tags, edits that keep comments, and compiling a schema.
 *
 * Why `require` and not `await import()`: the APIs that need them are synchronous (a codec's
 * parse/stringify/locate, schema validation, `Configuration.openSync`), so loading must be too.
 * Each of these packages is CommonJS under Node, so `require` and a static `import` elsewhere (the
 * CLI) share one module instance.
 */
import { createRequire } from 'node:module';
import { ConfigPersistenceError } from '../errors.js';

const require = createRequire(import.meta.url);

type YamlModule = typeof import('yaml');
type ZlibModule = typeof import('node:zlib');
type JsoncModule = typeof import('jsonc-parser');
type TomlModule = typeof import('smol-toml');

let yamlModule: YamlModule | undefined;
let jsoncModule: JsoncModule | undefined;
let zlibModule: ZlibModule | undefined;
let tomlModule: TomlModule | undefined;

/** The `yaml` package (Document API: positions, anchors and tags, edits that keep comments). */
export function yamlLib(): YamlModule {
  return (yamlModule ??= require('yaml') as YamlModule);
}

/** The `jsonc-parser` package (positions of JSON syntax errors and of values, for messages). */
export function jsoncLib(): JsoncModule {
  return (jsoncModule ??= require('jsonc-parser') as JsoncModule);
}

/** `node:zlib` (compressed backups and snapshots): a built-in, but compiling it is a millisecond or two of startup. */
export function zlibLib(): ZlibModule {
  return (zlibModule ??= require('node:zlib') as ZlibModule);
}

/** Loads a module by id from this package's dependencies (ajv and ajv-formats, for the schema compiler). */
export function requireDependency<M>(id: string): M {
  return require(id) as M;
}

let ownVersion: string | undefined;

/**
 * This package's version, through the package's own name (its `exports` lists `./package.json`), so
 * it resolves the same from src/ under the tests, from the bundle in dist/ and from an install.
 */
export function packageVersion(): string {
  return (ownVersion ??= require('config-persistence/package.json').version as string);
}

/**
 * `smol-toml` (the `.toml` codec): a dependency loaded lazily, when a TOML file is first read or written,
 * so an application without TOML files needs neither the package nor its load time.
 */
export function tomlLib(): TomlModule {
  if (tomlModule) return tomlModule;
  try {
    return (tomlModule = require('smol-toml') as TomlModule);
  } catch (err) {
    throw missingPeer('smol-toml', 'read and write .toml files', err);
  }
}

/** `E_UNSUPPORTED` for an optional peer dependency that is not installed, saying how to install it. */
export function missingPeer(name: string, purpose: string, cause: unknown): ConfigPersistenceError {
  return new ConfigPersistenceError('E_UNSUPPORTED', `To ${purpose}, install the optional peer dependency "${name}": npm install ${name}`, { cause });
}

type EnvPathsModule = typeof import('env-paths');
let envPathsModule: EnvPathsModule | undefined;

/** `env-paths` (the `projectName` option): a runtime dependency, loaded only when that option is used. */
export function envPathsLib(): EnvPathsModule {
  if (envPathsModule) return envPathsModule;
  try {
    return (envPathsModule = require('env-paths') as EnvPathsModule);
  } catch (err) {
    throw missingPeer('env-paths', 'use the projectName option (a per-user configuration directory)', err);
  }
}
