/**
 * Failpoints: named places in the rotation protocol where a test can make keyctl die, exactly as a power cut or an
 * OOM kill would, or stall, as a process paused by the scheduler, a debugger or a full disk would. Nothing but the
 * fault tests (test/faults/) sets `KEYCTL_FAILPOINT`:
 * - `<name>`: the process SIGKILLs itself when it reaches `<name>` (a crash between any two steps loses nothing);
 * - `<name>:stop`: it writes `failpoint <name>: stopped` to stderr and SIGSTOPs itself there; a SIGCONT lets it go on.
 *   The kill-during-rotation test runs `keyctl kill` while a rotation is stopped so, then lets the rotation continue.
 */
import { writeSync } from 'node:fs';

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
export type Failpoint = (typeof FAILPOINTS)[number];

/** What a stopped process writes to stderr just before it stops, so a test knows where it is. */
export function stoppedMarker(name: Failpoint): string {
  return `failpoint ${name}: stopped`;
}

export function failpoint(name: Failpoint, env: NodeJS.ProcessEnv = process.env): void {
  const set = env.KEYCTL_FAILPOINT;
  if (set === name) process.kill(process.pid, 'SIGKILL');
  if (set === `${name}:stop`) {
    // Synchronous, so the line is out before the process stops (a stream write could still sit in a buffer).
    writeSync(2, `${stoppedMarker(name)}\n`);
    process.kill(process.pid, 'SIGSTOP');
  }
}
