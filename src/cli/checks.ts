/**
 * Validation of every document in the directory, shared by `validate` and `status`: each config
 * file and profile is parsed and checked against the schema, and every problem is collected
 * (one broken file does not hide the others).
 */
import type { ConfigPersistence } from '../api/config-persistence.js';
import { ConfigPersistenceError, ParseError, ValidationError, type ValidationIssue } from '../errors.js';
import { inventory } from './inventory.js';

/** The outcome for one document. */
export interface DocumentCheck {
  file: string;
  ok: boolean;
  /** The file the problem is in, as shown to humans (`config/current.yaml`), when known. */
  source?: string;
  /** The error code when not ok (`E_PARSE`, `E_VALIDATION`, ...). */
  code?: string;
  message?: string;
  issues?: ValidationIssue[];
  line?: number;
  column?: number;
}

/** The outcome for the whole directory. */
export interface ValidationReport {
  ok: boolean;
  /** The schema file in use, or null when validation only checks syntax. */
  schema: string | null;
  documents: DocumentCheck[];
}

/** Checks one document with `load`, turning the library's errors into a {@link DocumentCheck}. */
export async function checkDocument(file: string, load: () => Promise<unknown>): Promise<DocumentCheck> {
  try {
    await load();
    return { file, ok: true };
  } catch (err) {
    if (!(err instanceof ConfigPersistenceError)) throw err;
    const check: DocumentCheck = { file, ok: false, code: err.code, message: firstLine(err.message) };
    if (err.file !== undefined) check.source = err.file;
    if (err instanceof ValidationError) check.issues = err.issues;
    if (err instanceof ParseError && err.line !== undefined) {
      check.line = err.line;
      check.column = err.column ?? 1;
    }
    return check;
  }
}

/** The label of the merged-configuration entry of a report. */
export const EFFECTIVE = 'effective configuration';

/**
 * Validates every config file and profile under the store's base directory and, when `effective`
 * is given, the merged configuration an application would open (it returns a label naming the
 * profile it used).
 */
export async function validateAll(
  store: ConfigPersistence,
  schemaFile: string | null,
  opts: { effective?: () => Promise<string>; onProgress?: (done: number, total: number) => void } = {},
): Promise<ValidationReport> {
  const { configs, profiles } = await inventory(store.baseDir);
  const jobs: Array<[string, () => Promise<unknown>]> = [
    ...configs.map((file): [string, () => Promise<unknown>] => [file, () => store.loadConfig(file)]),
    // Profiles are validated resolved (default ← parents ← profile), as the library loads them.
    ...profiles.map((p): [string, () => Promise<unknown>] => [p.file, () => store.loadProfile(p.name)]),
  ];
  const total = jobs.length + (opts.effective ? 1 : 0);
  const documents: DocumentCheck[] = [];
  for (const [file, load] of jobs) {
    documents.push(await checkDocument(file, load));
    opts.onProgress?.(documents.length, total);
  }
  if (opts.effective) {
    let label = EFFECTIVE;
    const check = await checkDocument(EFFECTIVE, async () => {
      label = await opts.effective!();
    });
    documents.push({ ...check, file: label });
    opts.onProgress?.(documents.length, total);
  }
  return { ok: documents.every((d) => d.ok), schema: schemaFile, documents };
}

function firstLine(message: string): string {
  return message.split('\n')[0]!;
}
