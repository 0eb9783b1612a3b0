import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Projects: `fast` (unit + in-process contract suites) for the inner loop; `slow` (CLI end to end, moto, the local
// store's kill test) which `npm test` also runs; `faults` (rotation crash and error injection: dozens of real CLI
// processes) behind `npm run test:faults`, which CI runs after `npm test`; `package` (npm pack, a global install of the
// tarball, the README's quick start through the installed command: over a minute of npm) behind `npm run test:package`,
// which CI runs on every supported Node line.
// `slow` and `faults` run the built keyctl (dist/): their globalSetup fails the run at once when dist/ is missing or
// older than the sources (test/helpers/dist.ts), instead of testing old code. `npm test` and `test:faults` build first.
const builtDist = ['test/helpers/dist-setup.ts'];
// `long`: suites that run many real processes for a long time (daemons with leader failover, a day of AWS leases;
// every command's every documented exit; the newcomer's walk-through; the shells' completion; CLI rotation end to end
// on every automatic exchange), behind `npm run test:long`, which CI runs after `npm test` so that `npm test` stays
// near six minutes.
const LONG = [
  'test/integration/daemon.test.ts',
  'test/contract/aws-longrun.slow.test.ts',
  'test/integration/exit-codes.test.ts',
  'test/integration/newcomer.test.ts',
  'test/integration/completion.test.ts',
  'test/integration/rotation.test.ts',
];
// `package`: keyctl's tarball installed globally, and the Node client's tarball installed alone into an empty project.
const PACKAGE = ['test/integration/package.test.ts', 'test/integration/package-client.test.ts'];

// The client package (clients/node) as source: keyctl imports it as `@keyctl/client[/x]`, which Node resolves to its
// built dist/ through the workspace link; tests run in this process see the sources, so they need no client build.
const CLIENT_SRC = fileURLToPath(new URL('./clients/node/src/', import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@keyctl\/client$/, replacement: `${CLIENT_SRC}index.ts` },
      { find: /^@keyctl\/client\/(.+)$/, replacement: `${CLIENT_SRC}$1.ts` },
    ],
  },
  test: {
    // Vitest's default is one worker less than the CPUs: one worker on the 2-core CI machine, where most slow files wait
    // on the processes they start (keyctl, the sandbox, moto) rather than compute. Two keep `npm test` near six minutes.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'fast',
          include: ['test/unit/**/*.test.ts', 'test/contract/**/*.test.ts'],
          exclude: ['test/contract/**/*.slow.test.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'slow',
          include: ['test/integration/**/*.test.ts', 'test/contract/**/*.slow.test.ts', 'test/faults/**/*.test.ts'],
          exclude: ['test/faults/rotation-*.test.ts', ...PACKAGE, ...LONG],
          globalSetup: builtDist,
        },
      },
      { extends: true, test: { name: 'package', include: PACKAGE, globalSetup: builtDist } },
      { extends: true, test: { name: 'faults', include: ['test/faults/rotation-*.test.ts'], globalSetup: builtDist } },
      { extends: true, test: { name: 'long', include: LONG, globalSetup: builtDist } },
    ],
  },
});
