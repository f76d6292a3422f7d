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
