import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/stress/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Crash and concurrency tests spawn real processes; two cores, so keep files from starving each other.
    maxWorkers: 2,
  },
});
