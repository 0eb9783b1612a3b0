/**
 * Short leases on KV v2 secrets, made safe by `cas`: a lease is one secret whose latest version says who holds it and until
 * when. Taking, renewing and releasing each write a new version with `cas` = the version just read, so of two racing
 * writers exactly one succeeds. Releasing writes a "free" record (rather than deleting the path) so a release can never
 * clobber a lease somebody else took over meanwhile.
 *
 * Used, with a short TTL, as the per-path mutex that guards stage-pointer updates (KV v2's metadata endpoint has no cas
 * of its own). The CoordinationStore's leases (fenced, on the server's clock) are in coordination.ts.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { LockedError } from '../../src/errors.js';
import type { Kv } from './kv.js';

/** A held mutex lease. */
export interface KvLease {
  name: string;
  owner: string;
  token: string;
  expiresAt: string;
  tookOver: boolean;
  previousOwner?: string;
}

interface LeaseRecord {
  state: 'held' | 'free';
  name: string;
  owner: string;
  token: string;
  /** ISO-8601, '' when free. */
  expiresAt: string;
}

function parse(data: Record<string, unknown> | null | undefined): LeaseRecord | null {
  if (!data || (data.state !== 'held' && data.state !== 'free')) return null;
  return {
    state: data.state,
    name: String(data.name ?? ''),
    owner: String(data.owner ?? ''),
    token: String(data.token ?? ''),
    expiresAt: String(data.expiresAt ?? ''),
  };
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class KvLeases {
  constructor(
    private readonly kv: Kv,
    private readonly now: () => number,
  ) {}

  /** Takes the lease at `kvPath`, or throws LockedError naming the holder. */
  async acquire(kvPath: string, name: string, owner: string, ttlMs: number): Promise<KvLease> {
    const cur = await this.kv.read(kvPath);
    const rec = parse(cur?.data);
    const now = this.now();
    if (rec?.state === 'held' && Date.parse(rec.expiresAt) > now) throw locked(name, rec.owner, rec.expiresAt);
    const next: LeaseRecord = {
      state: 'held',
      name,
      owner,
      token: randomBytes(18).toString('base64url'),
      expiresAt: new Date(now + ttlMs).toISOString(),
    };
    const written = await this.kv.write(kvPath, { ...next }, cur?.version ?? 0);
    if (written === 'conflict') {
      // Somebody else wrote between our read and our write: they hold it now.
      const again = parse((await this.kv.read(kvPath))?.data);
      throw again?.state === 'held' ? locked(name, again.owner, again.expiresAt) : locked(name, 'another process', next.expiresAt);
    }
    const tookOver = rec?.state === 'held';
    return {
      name,
      owner,
      token: next.token,
      expiresAt: next.expiresAt,
      tookOver,
      ...(tookOver && rec ? { previousOwner: rec.owner } : {}),
    };
  }

  async renew(kvPath: string, lease: KvLease, ttlMs: number): Promise<KvLease> {
    const cur = await this.kv.read(kvPath);
    const rec = parse(cur?.data);
    if (!cur || rec?.state !== 'held' || !sameToken(rec.token, lease.token)) throw lost(lease.name);
    const expiresAt = new Date(this.now() + ttlMs).toISOString();
    const written = await this.kv.write(kvPath, { ...rec, expiresAt }, cur.version);
    if (written === 'conflict') throw lost(lease.name);
    return { ...lease, expiresAt };
  }

  /** Releases the lease if still held with this token; a lost lease is left alone. */
  async release(kvPath: string, lease: KvLease): Promise<void> {
    const cur = await this.kv.read(kvPath);
    const rec = parse(cur?.data);
    if (!cur || rec?.state !== 'held' || !sameToken(rec.token, lease.token)) return;
    await this.kv.write(kvPath, { state: 'free', name: rec.name, owner: '', token: '', expiresAt: '' }, cur.version);
  }
}

function locked(name: string, owner: string, expiresAt: string): LockedError {
  return new LockedError(`"${name}" is locked by ${owner} until ${expiresAt}.`, {
    hint: 'Another keyctl is working on it. Wait for it to finish, or for the lease to expire, then re-run.',
    details: { holder: owner, expiresAt },
  });
}

function lost(name: string): LockedError {
  return new LockedError(`The lease on "${name}" was lost.`, {
    hint: 'It expired and another process took it over. Stop, then re-run to resume.',
  });
}
