/**
 * How alert channel credentials are found (docs/alerts.md): `env:NAME` from keyctl's own environment copy (the
 * start-up scrub leaves it there, not in the process's block), `store:<path>` from the CURRENT version's `value` field
 * at that store path. Each value is handed to `onSecret` first, so the caller's redactor masks it everywhere.
 */
import type { SecretStore } from '../../providers/types.js';
import { fingerprint } from '../domain/fingerprint.js';
import { UsageError } from '@keyctl/client/errors';
import type { EventSink } from '../events/types.js';

export function alertSecretResolver(
  store: Pick<SecretStore, 'read'>,
  env: NodeJS.ProcessEnv,
  onSecret: (value: string) => void,
): (ref: string) => Promise<string> {
  return async (ref) => {
    let value: string | undefined;
    if (ref.startsWith('env:')) {
      value = env[ref.slice('env:'.length)];
      if (!value) throw new UsageError('ALERT_SECRET_MISSING', `${ref} is not set.`, { hint: `Set ${ref.slice(4)} for keyctl.` });
    } else {
      const version = await store.read(ref.slice('store:'.length), { stage: 'CURRENT' });
      value = version.secret.value;
      if (!value)
        throw new UsageError('ALERT_SECRET_MISSING', `${ref} holds no "value" field.`, {
          hint: 'Store the credential as {"value": "..."}.',
        });
    }
    onSecret(value);
    return value;
  };
}

/** Where `keyctl alert secret` may write: under `alerts/`, never over a bot's or an account's key. */
export const ALERT_SECRET_PATH = /^alerts\/[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

export interface StoredAlertSecret {
  path: string;
  fingerprint: string;
  version: string;
  /** Fingerprint of the value it replaced (whose material is now dropped), if any. */
  replaced: string | null;
}

/**
 * Stores an alert channel credential as `{ value }`, the CURRENT version of `path` (what `store:<path>` reads), and
 * drops the material of the value it replaced: a rotated Slack URL or SMTP password has no reason to stay readable.
 * Audited (`alert.secret`, fingerprints only).
 */
export async function storeAlertSecret(
  deps: { store: Pick<SecretStore, 'describe' | 'write' | 'moveStage' | 'destroy'>; events: EventSink },
  input: { path: string; value: string },
): Promise<StoredAlertSecret> {
  if (!ALERT_SECRET_PATH.test(input.path)) {
    throw new UsageError('ALERT_SECRET_PATH', `${input.path} is not an alert credential path.`, {
      hint: 'Use alerts/<name> (letters, digits, . _ -), e.g. keyctl alert secret alerts/slack-url, and refer to it as store:alerts/slack-url.',
    });
  }
  const value = input.value.replace(/\r?\n$/, '');
  if (value.trim() === '' || value.includes('\n')) {
    throw new UsageError('ALERT_SECRET_VALUE', 'The credential must be one non-empty line.', {
      hint: 'Pipe it in without extra lines, e.g. printf %s "$SLACK_URL" | keyctl alert secret alerts/slack-url',
    });
  }
  const info = await deps.store.describe(input.path);
  const before = info?.stages.CURRENT ?? null;
  const replaced = before ? (info?.versions.find((v) => v.id === before)?.meta.fingerprint ?? before) : null;
  const fp = fingerprint(value);
  const written = await deps.store.write(input.path, {
    secret: { value },
    meta: { fingerprint: fp, source: 'alert-secret' },
    stage: 'CURRENT',
    expect: before,
  });
  if (before) {
    // CURRENT's move made the old value PREVIOUS: detach it and drop its material.
    await deps.store.moveStage(input.path, { stage: 'PREVIOUS', to: null, expect: before }).catch(() => undefined);
    await deps.store.destroy(input.path, before);
  }
  await deps.events.emit({ type: 'alert.secret', path: input.path, fingerprint: fp, replaced });
  return { path: input.path, fingerprint: fp, version: written.version, replaced };
}
