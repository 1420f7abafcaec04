import { blsGenerateKey, initCrypto } from '@app/crypto';
import type { SqlExecutor } from '@app/persistence';
import { createTestDatabase, type TestDatabase } from '@app/testing';

import { BlockRegistryView, PostgresRegistryView } from '../src/registry.repository';

/** The pool, counting the statements sent through it. */
function counting(db: TestDatabase): { sql: SqlExecutor; statements: () => number } {
  let statements = 0;
  return {
    sql: {
      query: (text, params) => {
        statements += 1;
        return db.pool.query(text, params);
      },
    },
    statements: () => statements,
  };
}

describe('BlockRegistryView', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    await initCrypto();
    db = await createTestDatabase({ poolSize: 4 });
    const at = new Date();
    const tx = Buffer.alloc(32, 1);
    for (const id of ['operator', 'supplier']) {
      await db.pool.query(
        `INSERT INTO registry_organisations (id, name, roles, public_key, stake, admitted_at)
         VALUES ($1, $2, $3, $4, 10, $5)`,
        [id, `The ${id}`, ['member'], Buffer.from(blsGenerateKey().publicKey), at],
      );
    }
    for (const [id, organisation, status] of [
      ['cc', 'operator', 'active'],
      ['billing', 'operator', 'active'],
      ['maintenance', 'supplier', 'revoked'],
    ] as const) {
      await db.pool.query(
        `INSERT INTO registry_receivers (id, organisation, role, public_key, encryption_key, status,
                                         registered_tx, registered_at, updated_at)
         VALUES ($1, $2, 'operator', $3, $3, $4, $5, $6, $6)`,
        [id, organisation, Buffer.alloc(96, id.length), status, tx, at],
      );
    }
    for (const id of ['meter-1', 'meter-2']) {
      await db.pool.query(
        `INSERT INTO registry_meters (id, registrar, public_key, dimensions, policy, epoch, owner, status,
                                      registered_tx, registered_at, updated_at)
         VALUES ($1, 'operator', $2, $3, '[]', '{}', 'null', 'active', $4, $5, $5)`,
        [id, Buffer.alloc(48, 7), ['kwh'], tx, at],
      );
    }
  });

  afterAll(async () => {
    await db.drop();
  });

  it('given the names a block holds, should read them in one statement per kind and answer each later read from what it read', async () => {
    const { sql, statements } = counting(db);
    const view = new BlockRegistryView(sql);
    const preloading = view.preload({
      meters: ['meter-1', 'meter-2', 'meter-unknown', 'meter-1'],
      receivers: ['cc', 'billing', 'maintenance', 'cc', 'receiver-unknown'],
      organisations: ['operator', 'supplier'],
    });
    // A read while the preload is under way joins it.
    const joined = view.receiver('billing');
    await preloading;
    expect(statements()).toBe(3);

    const direct = new PostgresRegistryView(db.pool);
    for (const id of ['cc', 'billing', 'maintenance', 'receiver-unknown']) {
      expect(await view.receiver(id)).toEqual(await direct.receiver(id));
    }
    expect(await joined).toEqual(await direct.receiver('billing'));
    expect((await view.receiver('maintenance'))?.status).toBe('revoked');
    for (const id of ['meter-1', 'meter-2', 'meter-unknown']) {
      expect(await view.meter(id)).toEqual(await direct.meter(id));
    }
    for (const id of ['operator', 'supplier']) {
      const organisation = await view.organisation(id);
      expect(organisation?.name).toBe(`The ${id}`);
      expect(organisation?.publicKey.bytes).toEqual((await direct.organisation(id))?.publicKey.bytes);
    }
    expect(statements()).toBe(3);

    // What was not named is read on demand, once.
    expect(await view.organisation('unknown')).toBeUndefined();
    expect(await view.organisation('unknown')).toBeUndefined();
    expect(statements()).toBe(4);
  });

  it('given a preload whose statement fails, should not remember the failure: the next read asks again', async () => {
    let fail = true;
    const sql: SqlExecutor = {
      query: (text, params) =>
        fail ? Promise.reject(new Error('connection lost')) : db.pool.query(text, params),
    };
    const view = new BlockRegistryView(sql);
    await expect(view.preload({ receivers: ['cc'] })).rejects.toThrow('connection lost');
    fail = false;
    expect((await view.receiver('cc'))?.organisation).toBe('operator');
  });
});
