/**
 * The per-version index of slot secrets, in the provider's DynamoDB table (table.ts): one item per secret
 * (`pk` = `index|<prefix>`, `sk` = the keyctl path) with one attribute per version:
 * - `m:<versionId>`: the version's metadata and write time (`{"meta":{...},"at":...}`), written before the version
 *   itself, so `describe` reads every version's metadata with one GetItem instead of one GetSecretValue (a decrypt)
 *   per version. The metadata also stays in the version's SecretString (`_keyctl.meta`), the source of truth for
 *   versions written before the index existed or whose index entry is missing.
 * - `d:<versionId>`: the version was destroyed (the ISO time). AWS cannot erase one version's material, so keyctl
 *   refuses to read it (docs/aws.md, "Destroy"). Kept here and not in tags: AWS allows 50 tags per secret
 *   (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html), and a destroyed version per
 *   rotation would reach that in weeks.
 *
 * Bounded: entries of versions AWS no longer lists are removed (prune), so the item holds at most the versions AWS
 * retains (about 100, a few hundred bytes each, far below DynamoDB's 400 KB item limit).
 */
import type * as DDB from '@aws-sdk/client-dynamodb';
import { ProviderError } from '@keyctl/client/errors';
import type { VersionMeta } from '../types.js';
import { mapAwsError, withThrottleRetry, type RetryOptions } from './errors.js';
import { partition, type DynamoApi } from './table.js';

export interface IndexEntry {
  meta: VersionMeta;
  /** keyctl's write time (orders versions within one AWS timestamp). */
  at: number;
}

export interface SecretIndex {
  entries: Map<string, IndexEntry>;
  destroyed: Set<string>;
}

const META = 'm:';
const DESTROYED = 'd:';
/** An index entry younger than this is never pruned: its version may still be on its way (written after its entry). */
const PRUNE_GRACE_MS = 60 * 60 * 1000;

export class VersionIndex {
  private readonly pk: string;

  constructor(
    private readonly api: DynamoApi,
    private readonly options: { table: string; prefix: string; region: string; retry?: RetryOptions; now: () => number },
  ) {
    this.pk = partition('index', options.prefix);
  }

  /** The index of `path` (empty when it has none yet). */
  async get(path: string): Promise<SecretIndex> {
    const out = await this.call('GetItem', () =>
      this.api.getItem({ TableName: this.options.table, Key: this.key(path), ConsistentRead: true }),
    );
    const index: SecretIndex = { entries: new Map(), destroyed: new Set() };
    for (const [name, value] of Object.entries(out.Item ?? {})) {
      if (name.startsWith(META)) index.entries.set(name.slice(META.length), parseEntry(value, this.options.table, path));
      else if (name.startsWith(DESTROYED)) index.destroyed.add(name.slice(DESTROYED.length));
    }
    return index;
  }

  /** Records a version's metadata (before the version is written). Idempotent. */
  async record(path: string, version: string, entry: IndexEntry): Promise<void> {
    await this.update(path, 'SET #a = :v', { '#a': `${META}${version}` }, { ':v': { S: JSON.stringify(entry) } });
  }

  /** Marks versions destroyed. Idempotent. */
  async markDestroyed(path: string, versions: readonly string[]): Promise<void> {
    if (versions.length === 0) return;
    const at = new Date(this.options.now()).toISOString();
    const names = Object.fromEntries(versions.map((v, i) => [`#d${i}`, `${DESTROYED}${v}`]));
    const sets = versions.map((_, i) => `#d${i} = if_not_exists(#d${i}, :at)`).join(', ');
    await this.update(path, `SET ${sets}`, names, { ':at': { S: at } });
  }

  /**
   * Forgets versions AWS no longer retains (`present` is what ListSecretVersionIds returned). Metadata entries
   * younger than an hour stay: their version may not be written yet.
   */
  async prune(path: string, index: SecretIndex, present: ReadonlySet<string>): Promise<void> {
    const cutoff = this.options.now() - PRUNE_GRACE_MS;
    const gone = [
      ...[...index.entries].filter(([id, e]) => !present.has(id) && e.at < cutoff).map(([id]) => `${META}${id}`),
      ...[...index.destroyed].filter((id) => !present.has(id)).map((id) => `${DESTROYED}${id}`),
    ];
    if (gone.length === 0) return;
    // 50 attribute paths per UpdateExpression stay well below DynamoDB's 4 KB expression limit.
    for (let i = 0; i < gone.length; i += 50) {
      const chunk = gone.slice(i, i + 50);
      const names = Object.fromEntries(chunk.map((n, j) => [`#r${j}`, n]));
      await this.update(path, `REMOVE ${chunk.map((_, j) => `#r${j}`).join(', ')}`, names, undefined);
    }
  }

  /** Removes the whole index of `path` (the secret was deleted). */
  async drop(path: string): Promise<void> {
    await this.call('DeleteItem', () => this.api.deleteItem({ TableName: this.options.table, Key: this.key(path) }));
  }

  private async update(
    path: string,
    expression: string,
    names: Record<string, string>,
    values: Record<string, DDB.AttributeValue> | undefined,
  ): Promise<void> {
    await this.call('UpdateItem', () =>
      this.api.updateItem({
        TableName: this.options.table,
        Key: this.key(path),
        UpdateExpression: expression,
        ExpressionAttributeNames: names,
        ...(values ? { ExpressionAttributeValues: values } : {}),
      }),
    );
  }

  private key(path: string): Record<string, DDB.AttributeValue> {
    return { pk: { S: this.pk }, sk: { S: path } };
  }

  private async call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await withThrottleRetry(fn, this.options.retry);
    } catch (err) {
      throw mapAwsError(err, { op, service: 'dynamodb', table: this.options.table, region: this.options.region });
    }
  }
}

function parseEntry(value: DDB.AttributeValue, table: string, path: string): IndexEntry {
  try {
    const parsed = JSON.parse(value.S ?? '') as unknown;
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      const { meta, at } = parsed as { meta?: unknown; at?: unknown };
      if (typeof at === 'number' && typeof meta === 'object' && meta !== null && !Array.isArray(meta)) {
        const entries = Object.entries(meta);
        if (entries.every(([, v]) => typeof v === 'string')) return { meta: Object.fromEntries(entries) as VersionMeta, at };
      }
    }
  } catch {
    // fall through: not JSON
  }
  throw new ProviderError('STORE_CORRUPT', `The DynamoDB table "${table}" holds a version index entry of "${path}" keyctl did not write.`, {
    hint: 'It was changed outside keyctl. Remove the item (aws dynamodb delete-item): keyctl then reads each version itself.',
  });
}
