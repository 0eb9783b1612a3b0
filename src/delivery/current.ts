/**
 * The credentials a bot gets: its slot's CURRENT version, with the fingerprint and the time of the next scheduled
 * rotation. Shared by `keyctl exec` (at start and on every rotation it sees) and `keyctl issue`.
 */
import { fingerprint } from '../domain/fingerprint.js';
import type { SlotKey } from '../domain/resolve.js';
import { MissingKeyError, NotFoundError, ProviderError } from '@keyctl/client/errors';
import type { SecretStore } from '../../providers/types.js';
import type { BotCredentials } from '@keyctl/client/protocol';

export interface CurrentCredentials extends BotCredentials {
  /** Store version id of the key. */
  version: string;
}

/** The slot's CURRENT key as stored, checked: what every way of handing a bot its key starts from. */
export interface StoredCurrent {
  apiKey: string;
  secret: string;
  passphrase?: string;
  fingerprint: string;
  version: string;
  createdAt: string;
}

/**
 * Reads the slot's CURRENT version (resolve the slot with domain/resolve.ts `resolveSlot`: master keys are never
 * handed to a bot). Throws MissingKeyError (exit 2) with a hint when the slot holds none, INVALID_STORED_KEY when the
 * version lacks a key or secret. Loads nothing beyond the store (exec's start-up reads it too).
 */
export async function readStoredCurrent(store: SecretStore, slot: SlotKey): Promise<StoredCurrent> {
  let v;
  try {
    v = await store.read(slot.path, { stage: 'CURRENT' });
  } catch (err) {
    if (err instanceof NotFoundError) {
      throw new MissingKeyError(`${slot.ref} has no CURRENT key in the store.`, {
        hint: `Import one with \`keyctl key import ${slot.ref} < key.json\`, or finish a rotation with \`keyctl rotate ${slot.ref}\`.`,
      });
    }
    throw err;
  }
  const { apiKey, secret, passphrase } = v.secret;
  if (!apiKey || !secret) {
    throw new ProviderError('INVALID_STORED_KEY', `The CURRENT version of ${slot.ref} lacks apiKey or secret.`, {
      hint: `Re-import the key with \`keyctl key import ${slot.ref}\`.`,
    });
  }
  return {
    apiKey,
    secret,
    ...(passphrase ? { passphrase } : {}),
    fingerprint: v.version.meta.fingerprint || fingerprint(apiKey),
    version: v.version.id,
    createdAt: v.version.createdAt,
  };
}

/** The slot's CURRENT key with the time of its next scheduled rotation. */
export async function readCurrent(store: SecretStore, slot: SlotKey): Promise<CurrentCredentials> {
  const c = await readStoredCurrent(store, slot);
  const rotatesAt = await nextRotationOf(slot, c.createdAt);
  return {
    ref: slot.ref,
    apiKey: c.apiKey,
    secret: c.secret,
    ...(c.passphrase ? { password: c.passphrase } : {}),
    fingerprint: c.fingerprint,
    ...(rotatesAt ? { rotatesAt } : {}),
    version: c.version,
  };
}

/** The slot's CURRENT version id and fingerprint, without reading secret material (what the rotation watch polls). */
export async function describeCurrent(
  store: SecretStore,
  path: string,
): Promise<{ version: string; fingerprint: string | undefined } | null> {
  const info = await store.describe(path);
  const id = info?.stages.CURRENT;
  if (!info || !id) return null;
  return { version: id, fingerprint: info.versions.find((x) => x.id === id)?.meta.fingerprint };
}

async function nextRotationOf({ slot }: SlotKey, createdAt: string): Promise<string | undefined> {
  try {
    // luxon is loaded by the config already; schedules/due.js adds little.
    const { nextRotation } = await import('../../schedules/due.js');
    return nextRotation(slot, createdAt)?.toUTC().toISO({ suppressMilliseconds: true }) ?? undefined;
  } catch {
    return undefined;
  }
}
