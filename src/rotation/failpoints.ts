/**
 * Failpoints: named places on every path that touches an exchange or the store where a test can make keyctl die,
 * exactly as a power cut or an OOM kill would, stall, as a process paused by the scheduler, a debugger or a full disk
 * would, or meet a store that refuses a write. Nothing but the fault tests (test/faults/) sets `KEYCTL_FAILPOINT`, and
 * nothing but this file reads it. Its value is a comma-separated list of specs:
 * - `<name>`: the process SIGKILLs itself when it reaches `<name>` (a crash between any two steps loses nothing);
 * - `<name>:stop`: it writes `failpoint <name>: stopped` to stderr and SIGSTOPs itself there; a SIGCONT lets it go on.
 *   The kill-during-rotation test runs `keyctl kill` while a rotation is stopped so, then lets the rotation continue;
 * - `<name>:fail`: the step there throws a ProviderError (STORE_WRITE_FAILED), as a store that refuses or fails a write
 *   would (`store.*` failpoints sit right before the write they stand for), once per process.
 * Several specs let one run stop at one place and die at a later one (`rotate.after-create:stop,rotate.after-store`).
 */
import { writeSync } from 'node:fs';
import { ProviderError } from '@keyctl/client/errors';

/** The rotate path's step boundaries (a crash there, then a re-run, is test/faults/rotation-crash.test.ts). */
export const FAILPOINTS = [
  'rotate.after-lock',
  'rotate.after-journal',
  'rotate.after-create',
  'rotate.after-store',
  'rotate.after-verify',
  'rotate.after-promote',
  'rotate.after-revoke-exchange',
  'rotate.after-revoke-store',
] as const;

/** The other paths that touch an exchange or the store: discard, orphan sweep, revoke (and kill), offboard, resume. */
export const PATH_FAILPOINTS = [
  'discard.after-exchange',
  'sweep.after-list',
  'sweep.after-delete',
  'revoke.after-describe',
  'revoke.after-exchange',
  'revoke.after-pass',
  'kill.after-pause',
  'offboard.after-slot',
  'resume.after-unpause',
] as const;

/** Right before each store write a rotation makes: the new key as PENDING, the promotion, a journal step, a destroy. */
export const STORE_FAILPOINTS = ['store.write-pending', 'store.promote', 'store.journal', 'store.destroy'] as const;

/** A rotate-path step boundary (the crash and kill-race suites cover each). */
export type Failpoint = (typeof FAILPOINTS)[number];
export type AnyFailpoint = Failpoint | (typeof PATH_FAILPOINTS)[number] | (typeof STORE_FAILPOINTS)[number];

/** What a stopped process writes to stderr just before it stops, so a test knows where it is. */
export function stoppedMarker(name: AnyFailpoint): string {
  return `failpoint ${name}: stopped`;
}

/** `:fail` specs already fired in this process: a store that failed once lets the clean-up after it through. */
const fired = new Set<string>();

export function failpoint(name: AnyFailpoint, env: NodeJS.ProcessEnv = process.env): void {
  const set = env.KEYCTL_FAILPOINT;
  if (!set) return;
  const specs = set.split(',').map((s) => s.trim());
  if (specs.includes(name)) process.kill(process.pid, 'SIGKILL');
  if (specs.includes(`${name}:stop`)) {
    // Synchronous, so the line is out before the process stops (a stream write could still sit in a buffer).
    writeSync(2, `${stoppedMarker(name)}\n`);
    process.kill(process.pid, 'SIGSTOP');
  }
  if (specs.includes(`${name}:fail`) && !fired.has(name)) {
    fired.add(name);
    throw new ProviderError('STORE_WRITE_FAILED', `The store failed a write (failpoint ${name}).`, {
      hint: 'Injected by KEYCTL_FAILPOINT for a fault test; unset it.',
    });
  }
}
