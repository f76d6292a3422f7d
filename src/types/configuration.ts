/**
 * Public types of `Configuration`: its options, layers, change events and `explain` results.
 */
import type { Change, DeepReadonly } from './documents.js';
import type { ConfigPersistenceOptions } from './options.js';
import type { SchemaOption } from './inferred.js';

// ---------------------------------------------------------------------------------------------
// Configuration (src/api/configuration.ts)
// ---------------------------------------------------------------------------------------------

/** Options of `Configuration.open` / `Configuration.openSync`: the store's options plus these. */
export interface ConfigurationOptions<S extends SchemaOption = SchemaOption> extends ConfigPersistenceOptions<S> {
  /**
   * The active profile; `null` means none, whatever the environment or the persisted choice say.
   * Default: env `CONFIG_PROFILE`, else the one last chosen with `useProfile`, else `NODE_ENV` when such a profile exists, else none.
   */
  profile?: string | null;
  /**
   * Environment variables `<PREFIX>__API__PORT=9000` set `api.port` (values parsed as YAML scalars).
   * Default: no environment layer.
   */
  envPrefix?: string;
  /** The environment to read (default `process.env`); never modified. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Read `.env`, then `.env.<profile>`, under the environment (a real variable wins), as dotenv and
   * c12 do: `true` for the working directory's files, or the directory holding them. Default false.
   */
  dotenv?: boolean | string;
  /** Re-resolve every layer when one of its files changes (hot reload). Default false. */
  watch?: boolean;
}

/** Where the active profile came from. */
export type ActiveProfileSource = 'option' | 'env' | 'persisted' | 'useProfile' | 'nodeEnv' | 'none';

/** The layers of a Configuration, lowest first. `schema` is a default filled in from the JSON Schema. */
export type ConfigLayer = 'schema' | 'default' | 'profile' | 'host' | 'local' | 'current' | 'env';

/** Why `Configuration` emitted `change`. */
export type ConfigurationChangeSource = 'set' | 'delete' | 'save' | 'profile' | 'reload';

/** A `change` event of `Configuration`: emitted once per change of the effective configuration. */
export interface ConfigurationChangeEvent<T = Record<string, unknown>> {
  data: DeepReadonly<T>;
  previous: DeepReadonly<T>;
  changes: Change[];
  source: ConfigurationChangeSource;
}

/** One layer's contribution to a value, as reported by `explain`. */
export interface ValueSource {
  layer: ConfigLayer;
  /** The file (as shown to humans), for file layers and the schema. */
  file?: string;
  /** The profile, for the `profile` layer. */
  profile?: string;
  /** The environment variable, for the `env` layer. */
  variable?: string;
  /** Position in `file`, when the codec can tell. */
  line?: number;
  column?: number;
  /** The value this layer holds at the path. */
  value: unknown;
  /** Set (or deleted) with `set()`/`delete()` and not saved yet. */
  unsaved?: boolean;
}

/** Result of `Configuration#explain(path)`: where the effective value comes from. */
export interface ValueExplanation {
  path: string;
  /** Whether the path exists in the effective configuration. */
  found: boolean;
  value: unknown;
  /** The layer that decides the value (for an object, the highest of the layers merged into it). */
  source?: ValueSource;
  /** Every layer that holds a value at the path, highest first (`source` is the first). */
  layers: ValueSource[];
}

/** A file (or the environment) that contributes to a Configuration, lowest first. */
export interface LayerInfo {
  layer: Exclude<ConfigLayer, 'schema'>;
  /** Storage key (`default.yaml`, `profiles/dev.yaml`); absent for the environment. */
  key?: string;
  /** As shown to humans. */
  file: string;
  profile?: string;
  /** Whether the file exists (a missing `default.*` or `current.*` is simply empty). */
  exists: boolean;
}
