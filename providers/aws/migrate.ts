/**
 * Moves coordination records of a store from before the DynamoDB table (versions of `keyctl/coordination/...` secrets,
 * written by SecretBackedCoordination) into the table, once, at `keyctl init`. An unfinished rotation's journal or the
 * hand-over registry must survive the upgrade: a rotation that crashed before it would otherwise not be resumed, and
 * its new key would stay alive at the exchange untracked.
 *
 * Each record is written to the table (unless the table already has that key) and then tombstoned in Secrets Manager,
 * so a second run finds nothing to move and never brings back a record deleted from the table since. Leases are not
 * moved: they last seconds to minutes, and a stale one only delays the next rotation of its slot.
 */
import { ConflictError, LockedError } from '@keyctl/client/errors';
import type { CoordinationStore } from '../coordination.js';
import { SecretBackedCoordination, type LeaseBackend } from '../coordination/secret-backed.js';
import type { SecretStore } from '../types.js';

/** The legacy store is only read and tombstoned here: no lease is ever taken through it. */
const NO_LEASES: LeaseBackend = {
  lock: () => Promise.reject(new LockedError('Leases of the legacy coordination store are not used.')),
  renew: () => Promise.reject(new LockedError('Leases of the legacy coordination store are not used.')),
  unlock: async () => undefined,
};

/** Moves every legacy record into `target`. Returns how many it moved. */
export async function migrateLegacyRecords(secrets: SecretStore, target: CoordinationStore): Promise<number> {
  const legacy = new SecretBackedCoordination(secrets, NO_LEASES);
  let moved = 0;
  for (const key of await legacy.list('')) {
    const record = await legacy.read(key);
    if (!record) continue;
    if ((await target.read(key)) === null) {
      try {
        await target.write(key, record.value, { expect: null });
        moved++;
      } catch (err) {
        // Written to the table meanwhile by a newer keyctl: the table's copy wins.
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    await legacy.delete(key, { expect: record.revision });
  }
  return moved;
}
