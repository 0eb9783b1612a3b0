/**
 * Failpoints: named places in the rotation protocol where a test can make keyctl die, exactly as a power cut or an
 * OOM kill would. `KEYCTL_FAILPOINT=<name>` makes the process SIGKILL itself when it reaches `<name>`; nothing else
 * reads it. The fault tests (test/faults/) use it to prove that a crash between any two steps loses nothing.
 */
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

export function failpoint(name: Failpoint, env: NodeJS.ProcessEnv = process.env): void {
  if (env.KEYCTL_FAILPOINT === name) process.kill(process.pid, 'SIGKILL');
}
