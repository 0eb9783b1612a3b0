import { defineConfig } from 'vitest/config';

// Two projects: `fast` (unit + contract against in-process providers) for the inner loop, and everything for `npm test`.
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'fast', include: ['test/unit/**/*.test.ts', 'test/contract/**/*.test.ts'], exclude: ['test/contract/**/*.slow.test.ts'] } },
      { extends: true, test: { name: 'slow', include: ['test/integration/**/*.test.ts', 'test/faults/**/*.test.ts', 'test/contract/**/*.slow.test.ts'] } },
    ],
  },
});
