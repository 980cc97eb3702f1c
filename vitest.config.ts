import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 240_000,
    pool: 'forks',
    // Two cores: anvil, PostgreSQL and SoftHSM tests are I/O-heavy; keep parallelism modest.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
