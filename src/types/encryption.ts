/**
 * Public types of encryption at rest (docs/encryption.md).
 */

/** What `rotateEncryptionKey` did. */
export interface RotationResult {
  /** Id of the key everything is encrypted with now; `null` after decrypting the directory. */
  keyId: string | null;
  /** Id of the key it was encrypted with before; `null` for a directory that was plain. */
  previousKeyId: string | null;
  /** Whether live files are encrypted now. */
  encryptFiles: boolean;
  /** Storage keys rewritten (backups, snapshots, history contents, live files), in the one commit. */
  rewritten: string[];
}

/** What `encryptionInfo()` says. */
export interface EncryptionInfo {
  /** Id of the key the directory is encrypted with (from its settings file); `null`: not encrypted. */
  directoryKeyId: string | null;
  /** Whether live files are encrypted too. */
  encryptFiles: boolean;
  /** Id of this store's key; `null`: none given. */
  keyId: string | null;
}
