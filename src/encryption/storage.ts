/**
 * Encryption at rest as a layer over any `Storage` (local directory, memory, etcd): the features
 * above keep speaking plaintext, the backend below only ever holds encrypted bytes for
 *
 * - `backups/*` (file backups and snapshots; not `backups/index.jsonl`, the records),
 * - `history/objects/*` (version contents),
 * - with `encryptFiles`: the live files (config files at the root and `profiles/*`).
 *
 * Journals, the backup records, the audit log, the settings file and the library's dot files stay
 * plain: they hold names, times, sizes and sha256 checksums, never content (docs/encryption.md
 * says what that reveals).
 *
 * Writes: a `put` of such a key is sealed (encryption/cipher.ts). A `copy` into one from a key
 * stored plain (the backup of a plain live file) becomes a `put` of the sealed bytes, with an
 * expectation that the source still has the revision that was read, so the backup is of exactly
 * the content the commit replaces; under encryption a backup is therefore never a hard link of the
 * live file. Copies and moves between keys stored alike (backup → history object, anything →
 * quarantine) move the stored bytes as they are.
 *
 * Reads: sealed bytes are opened (`E_CHECKSUM` `DecryptionError` naming the key for a missing or
 * wrong key or any damage, never garbage); plain bytes of a backup or history object are refused
 * once the directory is encrypted; a plain live file is read as it is (a `default.yaml` shipped
 * with the application, a file a human wrote), so `encryptFiles` can be turned on at any time.
 *
 * The directory records the key's id (never the key) in `config-persistence.json` (`encryption`):
 * the first sealing commit adds it (only on a directory with no plain backups or history yet, so
 * plain and encrypted copies never sit side by side), and every sealing commit expects the settings
 * file unchanged, so a process holding a key that was rotated away is refused (`wrong-key`) instead
 * of writing beside the new one.
 */
import { auditAppend } from '../changeset/audit.js';
import { SETTINGS_FILE } from '../core/names.js';
import { overriding } from '../core/views.js';
import { parseSettings, type EncryptionSettings } from '../core/settings.js';
import { ConfigPersistenceError, ConflictError, DecryptionError } from '../errors.js';
import type { AppendOp, Commit, CopyOp, Expectation, MoveOp, PrestagedPut, PutOp, ReadOptions, RemoveOp, Storage, StorageEntry, StorageFinding, StorageWatchEvent, StorageWatcher } from '../storage/types.js';
import { isSealed, keyIdIn, open, OVERHEAD, seal, type EncryptionKey } from './cipher.js';

/** How a key is stored: `sealed` always encrypted, `live` encrypted with encryptFiles (plain accepted on read), `plain` never. */
export type KeyClass = 'sealed' | 'live' | 'plain';

const RESERVED_ROOT = new Set(['audit.log', SETTINGS_FILE]);

/** The class of `key` (see the module comment). */
export function classOf(key: string, files: boolean): KeyClass {
  const slash = key.indexOf('/');
  if (slash === -1) return files && !key.startsWith('.') && !RESERVED_ROOT.has(key) ? 'live' : 'plain';
  const dir = key.slice(0, slash);
  const name = key.slice(key.lastIndexOf('/') + 1);
  if (name.startsWith('.')) return 'plain';
  if (dir === 'backups') return key === 'backups/index.jsonl' || key.indexOf('/', slash + 1) !== -1 ? 'plain' : 'sealed';
  if (key.startsWith('history/objects/')) return 'sealed';
  if (dir === 'profiles' && files && key.indexOf('/', slash + 1) === -1) return 'live';
  return 'plain';
}

/** Options of {@link EncryptedStorage}. */
export interface EncryptedStorageOptions {
  key: EncryptionKey | undefined;
  /** `encryptFiles` given in code (the settings file's `files: true` applies whatever this says). */
  files: boolean;
  /** The directory's record, as its settings file was read when the context was built. */
  recorded: EncryptionSettings | undefined;
}

/** The directory's encryption record and the settings file's revision it was read at. */
interface Record_ {
  recorded: EncryptionSettings | undefined;
  revision: string | null;
}

/** See the module comment. */
export class EncryptedStorage implements Storage {
  readonly location: string;
  readonly durable: boolean;
  readSync?: Storage['readSync'];
  findings?: () => Promise<StorageFinding[]>;
  readForWrite?: Storage['readForWrite'];
  abandonedContent?: (key: string) => Promise<string[]>;
  fileNames?: (prefix: string) => Promise<string[]>;
  private key: EncryptionKey | undefined;
  private filesOption: boolean;
  private recorded: EncryptionSettings | undefined;
  /** The settings file's revision when the record was last read (`undefined`: not read through this layer yet). */
  private revision: string | null | undefined;

  constructor(
    readonly inner: Storage,
    opts: EncryptedStorageOptions,
  ) {
    this.location = inner.location;
    this.durable = inner.durable;
    this.key = opts.key;
    this.filesOption = opts.files;
    this.recorded = opts.recorded;
    if (inner.readSync) {
      const readSync = inner.readSync.bind(inner);
      this.readSync = (key, o) => {
        const cls = this.classOf(key);
        if (cls === 'plain') return readSync(key, o);
        const raw = readSync(key, widen(o));
        if (raw !== undefined && overLimit(raw, o)) return readSync(key, o); // the backend's own E_TOO_LARGE
        return raw === undefined ? undefined : this.unseal(key, cls, raw);
      };
    }
    if (inner.findings) this.findings = inner.findings.bind(inner);
    // Its reads and the sealing of its commit run in the scope too: the commit compares what they
    // saw. The write gets this layer over the inner storage's scoped view (this layer's state stays its own).
    if (inner.readForWrite) {
      const forWrite = inner.readForWrite.bind(inner);
      this.readForWrite = (fn) => forWrite((scoped) => fn(overriding(this, 'inner', scoped)));
    }
    if (inner.abandonedContent) this.abandonedContent = inner.abandonedContent.bind(inner);
    if (inner.fileNames) this.fileNames = inner.fileNames.bind(inner); // names are not sealed
  }

  get optimistic(): boolean | undefined {
    return this.inner.optimistic;
  }

  get appliedRevision(): string | undefined {
    return this.inner.appliedRevision;
  }

  /** Whether anything is encrypted here: a key is given or the directory records one. */
  get active(): boolean {
    return this.key !== undefined || this.recorded !== undefined;
  }

  /** Whether live files are encrypted (code asks for it, or the directory records it). */
  get files(): boolean {
    return this.recorded?.files === true || (this.key !== undefined && this.filesOption);
  }

  /** The key of this process, if any (for bundles and rotation). */
  get currentKey(): EncryptionKey | undefined {
    return this.key;
  }

  /** The key id the directory records, if it is encrypted. */
  get recordedKeyId(): string | undefined {
    return this.recorded?.keyId;
  }

  /** Updates what the settings file says (read by settleSettings on a backend without readSync). */
  noteRecorded(recorded: EncryptionSettings | undefined): void {
    this.recorded = recorded;
    this.revision = undefined;
  }

  /** After a rotation: the new key and record, and the settings revision they are at. */
  useKey(key: EncryptionKey | undefined, files: boolean, record: Record_): void {
    this.key = key;
    this.filesOption = files;
    this.recorded = record.recorded;
    this.revision = record.revision;
  }

  classOf(key: string): KeyClass {
    return this.active ? classOf(key, this.files) : 'plain';
  }

  describe(key: string): string {
    return this.inner.describe(key);
  }

  async read(key: string, opts?: ReadOptions): Promise<Uint8Array | undefined> {
    const cls = this.classOf(key);
    if (cls === 'plain') return this.inner.read(key, opts);
    const raw = await this.inner.read(key, widen(opts));
    if (raw !== undefined && overLimit(raw, opts)) return this.inner.read(key, opts); // the backend's own E_TOO_LARGE
    return raw === undefined ? undefined : this.unseal(key, cls, raw);
  }

  async readEntry(key: string, opts?: ReadOptions): Promise<{ bytes: Uint8Array; entry: StorageEntry } | undefined> {
    const cls = this.classOf(key);
    if (cls === 'plain') return this.inner.readEntry(key, opts);
    const raw = await this.inner.readEntry(key, widen(opts));
    if (raw !== undefined && overLimit(raw.bytes, opts)) return this.inner.readEntry(key, opts); // the backend's own E_TOO_LARGE
    return raw === undefined ? undefined : { bytes: this.unseal(key, cls, raw.bytes), entry: raw.entry };
  }

  /** The plaintext of `key`'s stored bytes (see the module comment). */
  unseal(key: string, cls: KeyClass, raw: Uint8Array): Uint8Array {
    if (isSealed(raw)) return open(this.key, raw, this.inner.describe(key));
    if (cls === 'live' || this.recorded === undefined) return raw;
    return open(this.key, raw, this.inner.describe(key)); // throws not-encrypted
  }

  stat(key: string): Promise<StorageEntry | undefined> {
    return this.inner.stat(key);
  }

  list(prefix: string): Promise<StorageEntry[]> {
    return this.inner.list(prefix);
  }

  lock(name: string, opts?: Parameters<Storage['lock']>[1]): ReturnType<Storage['lock']> {
    return this.inner.lock(name, opts);
  }

  async watch(keys: readonly string[], onEvent: (event: StorageWatchEvent) => void, onError: (error: Error) => void): Promise<StorageWatcher> {
    return this.inner.watch(
      keys,
      (event) => {
        if (event.value === undefined || this.classOf(event.key) === 'plain') return onEvent(event);
        const { value, ...rest } = event;
        try {
          return onEvent({ ...rest, value: this.unseal(event.key, this.classOf(event.key), value) });
        } catch (err) {
          if (!(err instanceof DecryptionError)) throw err;
          return onEvent(rest); // the watcher re-reads the key, and that read reports what is wrong
        }
      },
      onError,
    );
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Forwarded for content stored as it is; sealed content is encrypted by the commit, not staged. */
  prestage(key: string, data: Uint8Array): PrestagedPut {
    if (this.classOf(key) !== 'plain') return { release: () => undefined };
    return this.inner.prestage?.(key, data) ?? { release: () => undefined };
  }

  async commit(commit: Commit): Promise<void> {
    if (!this.active) return this.inner.commit(commit);
    for (let attempt = 0; ; attempt++) {
      const sealed = await this.sealCommit(commit);
      try {
        await this.inner.commit(sealed);
        // A commit that recorded the key: read the record back (and the settings file's new revision).
        if (sealed.prepare?.some((op) => op.type === 'put' && op.key === SETTINGS_FILE)) await this.refresh();
        return;
      } catch (err) {
        // The settings file moved on (a rotation, an edit): read the record again and, with the
        // same key still recorded, try once more; a rotated key is refused by sealCommit.
        if (!(err instanceof ConflictError) || sealed === commit || attempt > 0) throw err;
        const before = this.revision;
        await this.refresh();
        if (this.revision === before) throw err;
      }
    }
  }

  /** The commit as the backend must see it: sealed puts, converted copies, the settings expectation. */
  private async sealCommit(commit: Commit): Promise<Commit> {
    const ops = [...(commit.prepare ?? []), ...(commit.changes ?? [])];
    const sealing = ops.some((op) => (op.type === 'put' || op.type === 'copy') && this.classOf(op.type === 'put' ? op.key : op.to) !== 'plain');
    if (!sealing) return commit;
    const key = await this.writableKey(ops);
    const expect: Expectation[] = [...(commit.expect ?? [])];
    const prepare: Array<PutOp | CopyOp | AppendOp> = [];
    for (const op of commit.prepare ?? []) {
      const out = await this.sealOp(key, op, expect);
      if (out) prepare.push(out as PutOp | CopyOp | AppendOp);
    }
    const changes: Array<PutOp | RemoveOp | MoveOp> = [];
    for (const op of commit.changes ?? []) changes.push((await this.sealOp(key, op, expect)) as PutOp | RemoveOp | MoveOp);
    const after = [...(commit.after ?? [])];
    if (this.recorded === undefined || (this.files && this.recorded.files !== true)) {
      prepare.unshift(await this.recordPut(key));
      after.push(auditAppend({ at: new Date().toISOString(), op: 'encrypt', file: '*', changedBy: 'system', details: { keyId: key.id, files: this.files } }));
    }
    if (!expect.some((e) => e.key === SETTINGS_FILE)) expect.push({ key: SETTINGS_FILE, revision: this.revision ?? null });
    return { ...commit, expect, prepare, changes, after };
  }

  private async sealOp(key: EncryptionKey, op: PutOp | CopyOp | AppendOp | RemoveOp | MoveOp, expect: Expectation[]): Promise<PutOp | CopyOp | AppendOp | RemoveOp | MoveOp | undefined> {
    if (op.type === 'put') return this.classOf(op.key) === 'plain' ? op : { ...op, data: seal(key, op.data) };
    if (op.type !== 'copy' || this.classOf(op.to) === 'plain') return op;
    const source = await this.inner.readEntry(op.from);
    if (!source || isSealed(source.bytes)) return op; // missing: the backend fails the copy as before; sealed: the same bytes serve
    if (op.ifMissing && (await this.inner.stat(op.to))) return undefined;
    expect.push({ key: op.from, revision: source.entry.revision });
    return { type: 'put', key: op.to, data: seal(key, source.bytes), ...(source.entry.mode !== undefined ? { mode: source.entry.mode & 0o666 } : {}), ...(op.unreferenced ? { unreferenced: true } : {}) };
  }

  /**
   * The key to seal with, after reading the directory's record: `no-key` / `wrong-key` when this
   * process cannot write what the directory holds, and `E_VALIDATION` when a key is given to a
   * directory that already holds plain backups or history (they must be encrypted first).
   */
  private async writableKey(ops: ReadonlyArray<PutOp | CopyOp | AppendOp | RemoveOp | MoveOp>): Promise<EncryptionKey> {
    if (this.revision === undefined) await this.refresh();
    const target = ops.find((op) => (op.type === 'put' || op.type === 'copy') && this.classOf(op.type === 'put' ? op.key : op.to) !== 'plain');
    const what = this.inner.describe(target ? (target.type === 'put' ? target.key : (target as CopyOp).to) : SETTINGS_FILE);
    const recorded = this.recorded;
    if (!this.key) {
      throw new DecryptionError('no-key', what, `Cannot write ${what}: ${this.location} is encrypted (key ${recorded?.keyId}) and this process has no key.`, 'Set CONFIG_PERSISTENCE_KEY, encryptionKey or a key file (--key-file); nothing was written.');
    }
    if (recorded && recorded.keyId !== this.key.id) {
      throw new DecryptionError('wrong-key', what, `Cannot write ${what}: ${this.location} is encrypted with key ${recorded.keyId}, not with the key given (${this.key.id}).`, 'Use the directory\'s key (after a rotation: the new one); nothing was written.');
    }
    if (!recorded) {
      const plain = await this.plainObjects();
      if (plain > 0) {
        throw new ConfigPersistenceError(
          'E_VALIDATION',
          `${this.location} holds ${plain} unencrypted backups or history contents, and an encryption key was given: encrypt them first with rotateEncryptionKey(key) (CLI: config-persistence key rotate), so plain and encrypted copies never sit side by side. Nothing was written.`,
          { file: what },
        );
      }
    }
    return this.key;
  }

  /** Backups and history objects stored plain (on a directory without a record). */
  private async plainObjects(): Promise<number> {
    const entries = [...(await this.inner.list('backups')), ...(await this.inner.list('history/objects'))];
    let plain = 0;
    for (const e of entries) {
      if (e.kind !== 'file' || classOf(e.key, false) !== 'sealed') continue;
      const bytes = await this.inner.read(e.key);
      if (bytes && !isSealed(bytes)) plain++;
    }
    return plain;
  }

  /** The put of the settings file that records `key` (and `files`), keeping every other setting. */
  private async recordPut(key: EncryptionKey): Promise<PutOp> {
    const record: EncryptionSettings = { keyId: key.id, ...(this.files ? { files: true } : {}) };
    return settingsPut(await this.inner.read(SETTINGS_FILE), record);
  }

  /** Reads the settings file's record and revision through the backend. */
  async refresh(): Promise<Record_> {
    const read = await this.inner.readEntry(SETTINGS_FILE);
    const values = read ? parseSettings(this.inner.describe(SETTINGS_FILE), read.bytes).values : {};
    this.recorded = values.encryption;
    this.revision = read?.entry.revision ?? null;
    return { recorded: this.recorded, revision: this.revision };
  }
}

/** The settings file with `encryption` set to `record` (removed for `undefined`), other keys as they were. */
export function settingsPut(current: Uint8Array | undefined, record: EncryptionSettings | undefined): PutOp {
  const doc = current ? (JSON.parse(Buffer.from(current).toString('utf8')) as Record<string, unknown>) : {};
  const next: Record<string, unknown> = { ...doc };
  if (record) next.encryption = record;
  else delete next.encryption;
  return { type: 'put', key: SETTINGS_FILE, data: Buffer.from(`${JSON.stringify(next, null, 2)}\n`), mode: 0o644 };
}

/** A plain value over `maxBytes` that {@link widen} let through (an encrypted one holds 41 bytes less than it reads). */
function overLimit(raw: Uint8Array, opts: ReadOptions | undefined): boolean {
  return opts?.maxBytes !== undefined && raw.byteLength > opts.maxBytes && !isSealed(raw);
}

/** `maxBytes` allowing for the encryption overhead. */
function widen(opts: ReadOptions | undefined): ReadOptions | undefined {
  return opts?.maxBytes === undefined ? opts : { ...opts, maxBytes: opts.maxBytes + OVERHEAD };
}

/** The key id in a stored object's header (rotation and verify tell keys apart by it). */
export { keyIdIn };
