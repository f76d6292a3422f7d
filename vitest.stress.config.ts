import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/stress/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 60_000,
    // The files mostly wait on child processes (kills, strace runs): two run side by side on two cores.
    maxWorkers: 2,
  },
});
