/**
 * keyctl's own reading of AWS staging labels. These rules run on the label map alone and never ask the server, so
 * they behave the same against AWS and against moto, whose checks diverge from AWS (see
 * ../shared/reference/vault-and-aws-notes.md, "Divergences from real AWS").
 */
import { describe, expect, it } from 'vitest';
import { decode, encode, GENESIS_BODY, assertStorableSecret, digestSecret } from '../../providers/aws/envelope.js';
import { GENESIS_VERSION, holdersOf, rotationInProgress, stagePointers, stagesOf } from '../../providers/aws/stages.js';

const A = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const B = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
const C = 'cccccccc-cccc-4ccc-8ccc-cccccccccccc';

describe("rotationInProgress (AWS's rule, decided by keyctl)", () => {
  it('is false with no AWSPENDING at all', () => {
    expect(rotationInProgress({ [A]: ['AWSCURRENT'], [B]: ['AWSPREVIOUS'] })).toBe(false);
  });

  it('divergence 1a: AWSPENDING on the same version as AWSCURRENT is NOT in progress (moto refuses to rotate here)', () => {
    // This is what a finished rotation that never detached AWSPENDING looks like; AWS lets a new rotation start.
    expect(rotationInProgress({ [A]: ['AWSPREVIOUS'], [B]: ['AWSCURRENT', 'AWSPENDING'] })).toBe(false);
  });

  it('divergence 1b: a leftover AWSPENDING on another version IS in progress (moto silently replaces it)', () => {
    // A crash between createSecret and finishSecret leaves exactly this; resuming must not start a second rotation.
    expect(rotationInProgress({ [A]: ['AWSCURRENT'], [B]: ['AWSPENDING'] })).toBe(true);
  });

  it("a failed rotation's empty AWSPENDING version still counts as in progress", () => {
    expect(rotationInProgress({ [A]: ['AWSCURRENT'], [C]: ['AWSPENDING'], [B]: [] })).toBe(true);
  });

  it('a first import waiting as PENDING (AWSCURRENT still on the genesis placeholder) is in progress', () => {
    expect(rotationInProgress({ [GENESIS_VERSION]: ['AWSCURRENT'], [A]: ['AWSPENDING'] })).toBe(true);
  });

  it('tolerates versions without labels and missing label lists', () => {
    expect(rotationInProgress({ [A]: undefined, [B]: ['AWSCURRENT'] })).toBe(false);
    expect(rotationInProgress({})).toBe(false);
  });
});

describe('stage pointers from labels', () => {
  it('maps the AWS labels to keyctl stages and ignores labels keyctl does not own', () => {
    expect(stagesOf(A, ['AWSPREVIOUS', 'keyctl-staged', 'AWSCURRENT', 'custom'])).toEqual(['CURRENT', 'PREVIOUS']);
  });

  it('a label parked on the genesis version points nowhere', () => {
    expect(stagesOf(GENESIS_VERSION, ['AWSCURRENT'])).toEqual([]);
    expect(stagePointers({ [GENESIS_VERSION]: ['AWSCURRENT', 'AWSPREVIOUS'], [A]: ['AWSPENDING'] })).toEqual({ PENDING: A });
  });

  it('a label on two versions (possible on moto, never on AWS) points nowhere rather than at a guess', () => {
    const map = { [A]: ['AWSPENDING'], [B]: ['AWSPENDING', 'AWSCURRENT'] };
    expect(holdersOf(map, 'AWSPENDING')).toEqual([A, B]);
    expect(stagePointers(map)).toEqual({ CURRENT: B });
  });
});

describe('SecretString envelope', () => {
  it('keeps the credential fields flat, so AWS-native readers get {apiKey, secret}', () => {
    const text = encode({ kind: 'version', at: 1.5, meta: { fingerprint: 'fp' }, secret: { apiKey: 'FAKE-k', secret: 'FAKE-s' } });
    const raw = JSON.parse(text) as Record<string, unknown>;
    expect(raw.apiKey).toBe('FAKE-k');
    expect(raw.secret).toBe('FAKE-s');
    expect(decode(text)).toEqual({ kind: 'version', at: 1.5, meta: { fingerprint: 'fp' }, secret: { apiKey: 'FAKE-k', secret: 'FAKE-s' } });
  });

  it('the genesis body is a constant and holds no credential', () => {
    expect(GENESIS_BODY).toBe(encode({ kind: 'genesis' }));
    expect(decode(GENESIS_BODY)).toEqual({ kind: 'genesis' });
  });

  it('anything keyctl did not write decodes to null', () => {
    for (const text of [
      'not json',
      '{"apiKey":"FAKE"}',
      '[1,2]',
      '{"_keyctl":{"v":2,"kind":"version"}}',
      '{"_keyctl":{"v":1,"kind":"lease"}}',
      undefined,
    ]) {
      expect(decode(text)).toBeNull();
    }
  });

  it('a lease body of the Secrets Manager era (leases are DynamoDB items now) is nothing keyctl reads', () => {
    expect(decode('{"_keyctl":{"v":1,"kind":"lease","owner":"o","token":"t","expiresAt":1,"fence":3}}')).toBeNull();
    expect(decode('{"_keyctl":{"v":1,"kind":"released","fence":3}}')).toBeNull();
  });

  it('refuses a secret field that would collide with the envelope', () => {
    expect(() => assertStorableSecret({ _keyctl: 'x' })).toThrow(/reserved/);
    expect(() => assertStorableSecret({ apiKey: 'FAKE' })).not.toThrow();
  });

  it('digests secrets independently of field order', () => {
    expect(digestSecret({ a: '1', b: '2' })).toBe(digestSecret({ b: '2', a: '1' }));
    expect(digestSecret({ a: '1' })).not.toBe(digestSecret({ a: '2' }));
  });
});
