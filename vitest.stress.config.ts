import os from 'node:os';
import path from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The tests' validator cache lives in the temp directory, not in the user's ~/.cache (children inherit it).
    env: { CONFIG_PERSISTENCE_CACHE_DIR: path.join(os.tmpdir(), `config-persistence-test-cache-${os.userInfo().uid}`) },
    include: ['test/stress/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 60_000,
    // The files mostly wait on child processes (kills, strace runs): two run side by side on two cores.
    maxWorkers: 2,
  },
});
