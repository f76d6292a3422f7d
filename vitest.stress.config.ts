import os from 'node:os';
import path from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Longest first (measured in CI: the multi-file sweeps ~150 s, the single-file sweeps ~100 s, the
 * kill loops ~70 s, the stale-lock loop ~25 s, mostly waiting; the properties ~10 s), so the two
 * workers finish close together. Without this a clean checkout (no vitest cache) orders the files
 * by size, which ran the longest one last and left one worker idle for a minute.
 */
const ORDER = [
  'fault-injection-multi.stress.test.ts',
  'fault-injection-single.stress.test.ts',
  'crash.stress.test.ts',
  'lock-recovery.stress.test.ts',
  'properties.stress.test.ts',
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification): number => {
      const i = ORDER.indexOf(path.basename(f.moduleId));
      return i === -1 ? ORDER.length : i;
    };
    return [...files].sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    // The tests' validator cache lives in the temp directory, not in the user's ~/.cache (children inherit it).
    env: { CONFIG_PERSISTENCE_CACHE_DIR: path.join(os.tmpdir(), `config-persistence-test-cache-${os.userInfo().uid}`) },
    include: ['test/stress/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 60_000,
    // The files mostly wait on child processes (kills, strace runs): two run side by side on two cores.
    maxWorkers: 2,
    sequence: { sequencer: LongestFirst },
  },
});
