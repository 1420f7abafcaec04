import type { Pool } from 'pg';

import { generateAdminKey } from './domain/admin-key';

export interface AdminKeyRecord {
  id: string;
  name: string;
  createdAt: Date;
  revokedAt: Date | null;
}

/** The node's admin API keys: their hashes, names and revocations (never the keys themselves). */
export class AdminKeyRepository {
  constructor(private readonly pool: Pool) {}

  /** Makes a key; the returned `key` is the only copy of the secret. */
  async create(name: string): Promise<{ id: string; key: string }> {
    if (!/^[\x20-\x7e]{1,100}$/.test(name)) {
      throw new RangeError('an admin key name is 1-100 printable ASCII characters');
    }
    const { id, key, secretHash } = generateAdminKey();
    await this.pool.query('INSERT INTO admin_api_keys (id, name, secret_hash) VALUES ($1, $2, $3)', [
      id,
      name,
      secretHash,
    ]);
    return { id, key };
  }

  async list(): Promise<AdminKeyRecord[]> {
    const { rows } = await this.pool.query<{
      id: string;
      name: string;
      created_at: Date;
      revoked_at: Date | null;
    }>('SELECT id, name, created_at, revoked_at FROM admin_api_keys ORDER BY created_at, id');
    return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at, revokedAt: r.revoked_at }));
  }

  /** False if there is no such key or it was revoked already. */
  async revoke(id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      'UPDATE admin_api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL',
      [id],
    );
    return (rowCount ?? 0) > 0;
  }
}
