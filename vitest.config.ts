import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // End-to-end tests load BPF programs and start brokers: running them one file at a time keeps
    // their probes from seeing each other's workloads.
    fileParallelism: false,
  },
});
