/**
 * The Python client's side of the pipe protocol (clients/python/keyctl_client.py), driven from the other end of a
 * socketpair by test/fixtures/python/protocol_check.py with the machine's python3: no keyctl process, so each rule of
 * docs/delivery.md's pipe mode is checked on its own. The end-to-end runs under keyctl are
 * test/integration/python-client.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { runProcess } from '../helpers/cli.js';

const SCRIPT = fileURLToPath(new URL('../fixtures/python/protocol_check.py', import.meta.url));

describe('the Python client: pipe protocol', () => {
  it('manual and automatic acks, ignored junk, the rotations iterator, a failing listener, early close, bad KEYCTL_FD', async () => {
    const r = await runProcess('python3', [SCRIPT], { env: { PYTHONDONTWRITEBYTECODE: '1' } });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out).toEqual({
      // Junk, an unknown message type and an over-long line before the key are skipped.
      first: 'fp1',
      // KEYCTL_FD and KEYCTL_REF are deleted from the environment the client read.
      envAfter: [],
      ackBeforeManual: null,
      manualAck: { type: 'ack', fingerprint: 'fp1' },
      // A credentials message missing its key is ignored; the two real ones arrive in order, each acked by the bot.
      acks: [
        { type: 'ack', fingerprint: 'fp2' },
        { type: 'ack', fingerprint: 'fp3' },
      ],
      iteratorEnded: true,
      rotated: ['fp2', 'fp3'],
      autoFirstAck: { type: 'ack', fingerprint: 'fpA' },
      afterFailingListener: null,
      afterListener: { type: 'ack', fingerprint: 'fpB' },
      seen: ['fpBAD', 'fpB'],
      repr: "Credentials(ref='alpha/arb1', fingerprint='fpA', rotates_at=None, source='fd', api_key=[hidden], secret=[hidden])",
      closedEarly: 'FD_CLOSED',
      fd2: 'INVALID_FD',
      fdabc: 'INVALID_FD',
    });
  });
});
