/**
 * vitest globalSetup of the `slow` and `faults` projects (vitest.config.ts): they run the built keyctl (dist/), so a
 * missing or stale build fails the whole run at once, with the files at fault and `npm run build` as the fix, instead
 * of failing (or passing on old code) test by test.
 */
import { assertDistFresh } from './dist.js';

export function setup(): void {
  assertDistFresh();
}
