import { expect } from 'vitest';
import { KeyctlError } from '@keyctl/client/errors';

/** The KeyctlError `p` rejects with; fails the test when it resolves or rejects with anything else. */
export async function caught(p: Promise<unknown>): Promise<KeyctlError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(KeyctlError);
    return err as KeyctlError;
  }
  throw new Error('expected the call to fail');
}
