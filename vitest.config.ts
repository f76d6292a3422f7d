import os from 'node:os';
import path from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The tests' validator cache lives in the temp directory, not in the user's ~/.cache (children inherit it).
    env: { CONFIG_PERSISTENCE_CACHE_DIR: path.join(os.tmpdir(), `config-persistence-test-cache-${os.userInfo().uid}`) },
    include: ['test/**/*.test.ts'],
    exclude: ['test/stress/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Crash and concurrency tests spawn real processes; two cores, so keep files from starving each other.
    maxWorkers: 2,
  },
});
