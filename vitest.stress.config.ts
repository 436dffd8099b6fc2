import { defineConfig } from 'vitest/config';

/** `npm run test:stress`: the reliability suite at full size (ASMGRAPH_KILLS, ASMGRAPH_CORRUPTIONS, ...). */
export default defineConfig({
  test: {
    include: ['test/stress/**/*.test.ts', 'test/crash.test.ts', 'test/corruption.test.ts'],
    testTimeout: 1_800_000,
    hookTimeout: 600_000,
    pool: 'forks',
    globalSetup: ['test/support/system-tools.ts'],
    fileParallelism: false,
  },
});
