/**
 * Every event maps to the audit entry keyctl wrote for it before events existed (the engine's direct writes, `verify`,
 * `key import` and `offboard`'s), field for field, or to none. The expected entries are written out literally.
 */
import { describe, expect, it } from 'vitest';
import { auditInputOf, auditSubscriber } from '../../src/audit/subscriber.js';
import type { AuditInput } from '../../src/audit/types.js';
import { EventBus } from '../../src/events/bus.js';
import type { EventType, KeyctlEvent } from '../../src/events/types.js';

const time = '2025-01-01T00:00:00.000Z';
const ref = 'alpha/arb1';
const rotationId = 'r-0001';

const cases: Array<[string, KeyctlEvent, AuditInput | null]> = [
  [
    'rotation.started',
    { type: 'rotation.started', time, ref, rotationId, mode: 'automatic', reason: 'manual' },
    { command: 'rotate.start', ref, outcome: 'ok', detail: { rotationId, mode: 'automatic', reason: 'manual' } },
  ],
  [
    'rotation.step created',
    { type: 'rotation.step', time, ref, rotationId, step: 'created', outcome: 'ok', fingerprint: 'fp-new', version: 'v2' },
    { command: 'rotate.create', ref, fingerprint: 'fp-new', outcome: 'ok', detail: { rotationId, version: 'v2' } },
  ],
  [
    'rotation.step tested ok',
    { type: 'rotation.step', time, ref, rotationId, step: 'tested', outcome: 'ok', fingerprint: 'fp-new' },
    { command: 'rotate.test', ref, fingerprint: 'fp-new', outcome: 'ok', detail: { rotationId } },
  ],
  [
    'rotation.step tested refused',
    { type: 'rotation.step', time, ref, rotationId, step: 'tested', outcome: 'refused', violations: ['NOT_IP_LOCKED', 'EXCESS_SCOPE'] },
    { command: 'rotate.test', ref, outcome: 'refused', detail: { rotationId, violations: 'NOT_IP_LOCKED,EXCESS_SCOPE' } },
  ],
  [
    'rotation.step promoted',
    {
      type: 'rotation.step',
      time,
      ref,
      rotationId,
      step: 'promoted',
      outcome: 'ok',
      fingerprint: 'fp-new',
      previous: null,
      revokeAfter: time,
    },
    { command: 'rotate.promote', ref, fingerprint: 'fp-new', outcome: 'ok', detail: { rotationId, previous: null, revokeAfter: time } },
  ],
  [
    'rotation.step revoked-previous',
    { type: 'rotation.step', time, ref, rotationId, step: 'revoked-previous', outcome: 'ok', fingerprint: 'fp-old' },
    { command: 'rotate.revoke', ref, fingerprint: 'fp-old', outcome: 'ok', detail: { rotationId } },
  ],
  [
    'rotation.step discarded',
    { type: 'rotation.step', time, ref, rotationId, step: 'discarded', outcome: 'ok', version: 'v3', why: 'failed its test' },
    { command: 'rotate.discard', ref, outcome: 'ok', detail: { version: 'v3', why: 'failed its test' } },
  ],
  [
    'key.swept',
    { type: 'key.swept', time, ref, fingerprint: 'fp-orphan', label: 'keyctl-r-0000', outcome: 'ok' },
    { command: 'rotate.sweep', ref, fingerprint: 'fp-orphan', outcome: 'ok', detail: { label: 'keyctl-r-0000' } },
  ],
  [
    'key.swept failed',
    { type: 'key.swept', time, ref, fingerprint: 'fp-orphan', label: 'keyctl-r-0000', outcome: 'failed', error: 'PASSPHRASE_UNKNOWN' },
    {
      command: 'rotate.sweep',
      ref,
      fingerprint: 'fp-orphan',
      outcome: 'failed',
      detail: { label: 'keyctl-r-0000', error: 'PASSPHRASE_UNKNOWN' },
    },
  ],
  [
    'key.revoked ok',
    { type: 'key.revoked', time, ref, fingerprint: 'fp-1', outcome: 'ok', reason: 'leaked' },
    { command: 'revoke', ref, fingerprint: 'fp-1', outcome: 'ok', detail: { reason: 'leaked' } },
  ],
  [
    'key.revoked failed',
    { type: 'key.revoked', time, ref, fingerprint: 'fp-1', outcome: 'failed', reason: 'leaked', error: 'EXCHANGE_UNAVAILABLE' },
    { command: 'revoke', ref, fingerprint: 'fp-1', outcome: 'failed', detail: { reason: 'leaked', error: 'EXCHANGE_UNAVAILABLE' } },
  ],
  [
    'verification.result ok',
    { type: 'verification.result', time, ref, fingerprint: 'fp-1', outcome: 'ok', violations: [] },
    { command: 'verify', ref, fingerprint: 'fp-1', outcome: 'ok', detail: { violations: '' } },
  ],
  [
    'verification.result violation',
    {
      type: 'verification.result',
      time,
      ref,
      fingerprint: 'fp-1',
      outcome: 'violation',
      violations: ['WITHDRAW_ENABLED', 'NOT_IP_LOCKED'],
    },
    { command: 'verify', ref, fingerprint: 'fp-1', outcome: 'refused', detail: { violations: 'WITHDRAW_ENABLED,NOT_IP_LOCKED' } },
  ],
  [
    'verification.result error, no key read',
    { type: 'verification.result', time, ref, fingerprint: null, outcome: 'error', violations: [], error: 'NO_CURRENT_KEY' },
    { command: 'verify', ref, outcome: 'failed', detail: { violations: '', error: 'NO_CURRENT_KEY' } },
  ],
  [
    'key.imported ok',
    { type: 'key.imported', time, ref, fingerprint: 'fp-2', outcome: 'ok', version: 'v4', replaced: 'fp-1', violations: [] },
    { command: 'key import', ref, fingerprint: 'fp-2', outcome: 'ok', detail: { version: 'v4', replaced: 'fp-1' } },
  ],
  [
    'key.imported ok, violations accepted, nothing replaced',
    { type: 'key.imported', time, ref, fingerprint: 'fp-2', outcome: 'ok', version: 'v1', replaced: null, violations: ['NOT_IP_LOCKED'] },
    {
      command: 'key import',
      ref,
      fingerprint: 'fp-2',
      outcome: 'ok',
      detail: { version: 'v1', replaced: null, acceptedViolations: 'NOT_IP_LOCKED' },
    },
  ],
  [
    'key.imported refused',
    { type: 'key.imported', time, ref, fingerprint: 'fp-2', outcome: 'refused', violations: ['WITHDRAW_ENABLED', 'TRANSFER_ENABLED'] },
    { command: 'key import', ref, fingerprint: 'fp-2', outcome: 'refused', detail: { violations: 'WITHDRAW_ENABLED,TRANSFER_ENABLED' } },
  ],
  [
    'key.imported failed',
    { type: 'key.imported', time, ref, fingerprint: 'fp-2', outcome: 'failed', violations: [], error: 'CONFLICT' },
    { command: 'key import', ref, fingerprint: 'fp-2', outcome: 'failed', detail: { error: 'CONFLICT' } },
  ],
  [
    'offboard',
    { type: 'offboard', time, staff: 'bob', rotated: 2, failed: 0, masterKeys: ['@main', '@spare'] },
    { command: 'offboard', outcome: 'ok', detail: { staff: 'bob', rotated: 2, failed: 0, masterKeys: '@main,@spare' } },
  ],
  [
    'offboard with failures',
    { type: 'offboard', time, staff: 'bob', rotated: 1, failed: 1, masterKeys: [] },
    { command: 'offboard', outcome: 'failed', detail: { staff: 'bob', rotated: 1, failed: 1, masterKeys: '' } },
  ],
  // Outcomes and signals: their facts are in the entries of the steps that led to them.
  ['rotation.done', { type: 'rotation.done', time, ref, status: 'rotated', previousRevoked: true, resumed: false, rotationId }, null],
  ['rotation.failed', { type: 'rotation.failed', time, ref, code: 'RATE_LIMITED', message: 'slow down' }, null],
  ['violation', { type: 'violation', time, ref, fingerprint: 'fp-1', codes: ['WITHDRAW_ENABLED'], source: 'verify' }, null],
  ['lease.gained', { type: 'lease.gained', time, name: 'rotate/bots/alpha/arb1', owner: 'h:1', fence: 3, tookOver: false }, null],
  // A lease taken from another holder cut that holder's work off: audited.
  [
    'lease.gained by takeover',
    { type: 'lease.gained', time, ref, name: 'rotate/bots/alpha/arb1', owner: 'h:2', fence: 4, tookOver: true, previousOwner: 'h:1' },
    { command: 'lease.takeover', ref, outcome: 'ok', detail: { name: 'rotate/bots/alpha/arb1', previousOwner: 'h:1', fence: 4 } },
  ],
  // The kill as a whole (what `status` shows as a bot's last kill), beside its steps' entries.
  [
    'kill',
    { type: 'kill', time, bots: ['alpha'], all: false, reason: 'incident', revoked: 2, failed: 0 },
    { command: 'kill', outcome: 'ok', detail: { bots: 'alpha', reason: 'incident', revoked: 2, failed: 0 } },
  ],
  [
    'kill --all with a failure',
    { type: 'kill', time, bots: ['alpha', 'beta'], all: true, reason: 'incident', revoked: 2, failed: 1 },
    { command: 'kill', outcome: 'failed', detail: { bots: '*', reason: 'incident', revoked: 2, failed: 1 } },
  ],
  [
    'rotation.stuck',
    { type: 'rotation.stuck', time, ref, rotationId, step: 'stored', since: time },
    { command: 'rotate.stuck', ref, outcome: 'failed', detail: { rotationId, step: 'stored', since: time } },
  ],
  [
    'alert.secret',
    { type: 'alert.secret', time, path: 'alerts/slack-url', fingerprint: 'fp-9', replaced: null },
    { command: 'alert secret', outcome: 'ok', fingerprint: 'fp-9', detail: { path: 'alerts/slack-url', replaced: null } },
  ],
  [
    'attestation',
    { type: 'attestation', time, item: 'exchange-2fa', bot: 'alpha', by: 'alice', note: 'hardware key' },
    { command: 'attest', outcome: 'ok', detail: { item: 'exchange-2fa', bot: 'alpha', by: 'alice', note: 'hardware key' } },
  ],
  [
    'attestation without a note',
    { type: 'attestation', time, item: 'host-hardened', bot: 'beta', by: 'bob' },
    { command: 'attest', outcome: 'ok', detail: { item: 'host-hardened', bot: 'beta', by: 'bob', note: null } },
  ],
  [
    'alert.test sent',
    { type: 'alert.test', time, channel: 'ops', outcome: 'sent' },
    { command: 'alert test', outcome: 'ok', detail: { channel: 'ops' } },
  ],
  [
    'alert.test failed',
    { type: 'alert.test', time, channel: 'ops', outcome: 'failed', error: 'ALERT_NETWORK' },
    { command: 'alert test', outcome: 'failed', detail: { channel: 'ops', error: 'ALERT_NETWORK' } },
  ],
  [
    'due.run nothing due',
    { type: 'due.run', time, runner: 'verify', due: 0, failed: 0 },
    { command: 'due.run', outcome: 'ok', detail: { runner: 'verify', due: 0, failed: 0 } },
  ],
  [
    'due.run with a failure',
    { type: 'due.run', time, runner: 'rotate', due: 3, failed: 1 },
    { command: 'due.run', outcome: 'failed', detail: { runner: 'rotate', due: 3, failed: 1 } },
  ],
  ['lease.lost', { type: 'lease.lost', time, name: 'rotate/bots/alpha/arb1', owner: 'h:1', fence: 3, code: 'LOCKED' }, null],
];

describe('audit subscriber', () => {
  it.each(cases)('%s', (_name, event, expected) => {
    expect(auditInputOf(event)).toEqual(expected);
  });

  it('covers every event type', () => {
    const all: EventType[] = [
      'rotation.started',
      'rotation.step',
      'rotation.done',
      'rotation.failed',
      'key.swept',
      'key.revoked',
      'verification.result',
      'violation',
      'key.imported',
      'offboard',
      'kill',
      'lease.gained',
      'lease.lost',
      'rotation.stuck',
      'alert.secret',
      'attestation',
      'alert.test',
      'due.run',
    ];
    expect(new Set(cases.map(([, e]) => e.type))).toEqual(new Set(all));
  });

  it('appends each mapped entry as the actor, durably: a failed append fails the emit', async () => {
    const appended: unknown[] = [];
    const bus = new EventBus({ now: () => Date.parse(time) });
    let fail = false;
    bus.subscribe(
      auditSubscriber(
        {
          append: async (input) => {
            if (fail) throw new Error('disk full');
            appended.push(input);
            return { ...input, seq: appended.length, time, prev: 'x', mac: 'y' };
          },
        },
        'ops',
      ),
      { durable: true },
    );
    await bus.emit({ type: 'key.revoked', ref, fingerprint: 'fp-1', outcome: 'ok', reason: 'leaked' });
    await bus.emit({ type: 'rotation.done', ref, status: 'rotated', previousRevoked: true, resumed: false });
    expect(appended).toEqual([{ command: 'revoke', ref, fingerprint: 'fp-1', outcome: 'ok', detail: { reason: 'leaked' }, actor: 'ops' }]);
    fail = true;
    await expect(bus.emit({ type: 'key.revoked', ref, fingerprint: 'fp-1', outcome: 'ok', reason: 'leaked' })).rejects.toThrow('disk full');
  });
});
