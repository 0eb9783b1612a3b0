/**
 * keyctl's bookkeeping inside a KV v2 secret's `custom_metadata` (string -> string, returned on every data read):
 *
 *   stage.PENDING = "4"      stage pointers, one key per stage that points somewhere
 *   stage.CURRENT = "3"
 *   stage.PREVIOUS = "2"
 *   v3 = {"fingerprint":"…","source":"import"}   each version's non-secret meta, as one JSON value per version
 *   idem.<key> = "3"         idempotency keys (the secret itself is compared on repeat, no digest is stored)
 *
 * One key per version (rather than `v3.fingerprint`, `v3.source`, …) because Vault caps custom_metadata at 64 keys of
 * at most 128 characters with values of at most 512; keys keyctl does not own are kept untouched.
 */
import { ProviderError, UsageError } from '../../src/errors.js';
import { STAGES, type Stage, type VersionMeta } from '../types.js';

export const MAX_KEYS = 64;
const MAX_VALUE = 512;

export interface SlotMetadata {
  stages: Partial<Record<Stage, string>>;
  meta: Record<string, VersionMeta>;
  idempotency: Record<string, string>;
  /** custom_metadata keys keyctl does not own (e.g. tags an operator added). */
  foreign: Record<string, string>;
}

export function decodeSlot(custom: Record<string, string> | null | undefined, path: string): SlotMetadata {
  const out: SlotMetadata = { stages: {}, meta: {}, idempotency: {}, foreign: {} };
  for (const [k, v] of Object.entries(custom ?? {})) {
    if (k.startsWith('stage.')) {
      const s = k.slice('stage.'.length) as Stage;
      if (STAGES.includes(s)) out.stages[s] = v;
      else out.foreign[k] = v;
    } else if (/^v\d+$/.test(k)) {
      try {
        const parsed = JSON.parse(v) as unknown;
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
        out.meta[k.slice(1)] = Object.fromEntries(Object.entries(parsed).map(([a, b]) => [a, String(b)]));
      } catch {
        throw new ProviderError('STORE_CORRUPT', `The keyctl metadata of "${path}" in Vault is damaged (custom_metadata "${k}").`, {
          hint: 'It was edited by hand. Fix or remove that key with `vault kv metadata patch`; keyctl changed nothing.',
        });
      }
    } else if (k.startsWith('idem.')) {
      out.idempotency[k.slice('idem.'.length)] = v;
    } else {
      out.foreign[k] = v;
    }
  }
  return out;
}

/**
 * Encodes the bookkeeping back, dropping what refers to versions Vault no longer retains (`retained`), and, if still
 * over Vault's 64-key cap, the oldest idempotency keys (a retry that old is long settled).
 */
export function encodeSlot(m: SlotMetadata, retained: Set<string>): Record<string, string> {
  const out: Record<string, string> = { ...m.foreign };
  for (const s of STAGES) {
    const v = m.stages[s];
    if (v !== undefined) out[`stage.${s}`] = v;
  }
  for (const [id, meta] of Object.entries(m.meta)) {
    if (!retained.has(id)) continue;
    const json = JSON.stringify(meta);
    if (json.length > MAX_VALUE) {
      throw new UsageError(
        'META_TOO_LARGE',
        `The metadata of version ${id} is ${json.length} characters; Vault keeps at most ${MAX_VALUE}.`,
        {
          hint: 'Keep version metadata to short fields (fingerprint, source, creator, flags).',
        },
      );
    }
    out[`v${id}`] = json;
  }
  const idem = Object.entries(m.idempotency)
    .filter(([, v]) => retained.has(v))
    .sort((a, b) => Number(b[1]) - Number(a[1]));
  for (const [k, v] of idem) {
    if (Object.keys(out).length >= MAX_KEYS) break;
    out[`idem.${k}`] = v;
  }
  if (Object.keys(out).length > MAX_KEYS) {
    throw new ProviderError('VAULT_METADATA_FULL', `The Vault custom_metadata of this secret would exceed ${MAX_KEYS} keys.`, {
      hint: 'Lower max_versions on the KV mount or remove foreign custom_metadata keys.',
    });
  }
  return out;
}

/** CURRENT moves and PREVIOUS follows onto the version CURRENT left (AWS semantics, as in the other providers). */
export function attach(m: SlotMetadata, stage: Stage, to: string): void {
  if (stage !== 'CURRENT') {
    m.stages[stage] = to;
    return;
  }
  const old = m.stages.CURRENT;
  if (old === to) return;
  m.stages.CURRENT = to;
  if (old !== undefined) m.stages.PREVIOUS = old;
}
