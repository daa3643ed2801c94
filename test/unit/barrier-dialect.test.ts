/**
 * The barrier dialects' pure parts, without a database: which dialect a knex
 * client gets, `?` placeholders numbered for PostgreSQL exactly as knex.raw
 * numbers them, how each dialect reads its driver's results and errors, and
 * which ops take the branch lock.
 */
import knexFactory from 'knex';
import type { Knex } from 'knex';
import { afterAll, describe, expect, it } from 'vitest';
import { locksBranch } from '../../participant-sdk/barrier/decision.ts';
import { barrierDialectOf } from '../../participant-sdk/barrier/dialect-of.ts';
import type { BarrierQuery } from '../../participant-sdk/barrier/dialect.ts';
import { isRetryableLockError } from '../../participant-sdk/barrier/lock-retry.ts';
import { GuardedStatements, isTransactionLostError } from '../../participant-sdk/barrier/lost-transaction.ts';
import { mysqlDialect } from '../../participant-sdk/barrier/mysql-dialect.ts';
import { postgresDialect } from '../../participant-sdk/barrier/postgres-dialect.ts';
import { toNumberedPlaceholders } from '../../participant-sdk/barrier/sql-placeholders.ts';
import { ParticipantConfigError, TransactionLostError } from '../../participant-sdk/errors.ts';
import { BRANCH_OPS } from '../../protocol/wire.ts';

// Compiles only: never connects.
const pgKnex = knexFactory({ client: 'pg' });
afterAll(() => pgKnex.destroy());

const on = (client: unknown) => ({ client: { config: { client } } }) as unknown as Knex;

describe('choosing the dialect', () => {
  it('takes it from the knex client: mysql2 for MySQL/MariaDB, pg (and its aliases) for PostgreSQL, nothing else', () => {
    expect(barrierDialectOf(on('mysql2')).name).toBe('mysql');
    for (const client of ['pg', 'postgres', 'postgresql']) expect(barrierDialectOf(on(client)).name, client).toBe('postgres');
    for (const client of ['mysql', 'sqlite3', 'pgnative', 'toString', undefined, class {}]) {
      expect(() => barrierDialectOf(on(client)), String(client)).toThrow(ParticipantConfigError);
    }
    expect(mysqlDialect.supportsXa).toBe(true);
    expect(postgresDialect.supportsXa).toBe(false);
  });
});

describe('placeholders on PostgreSQL', () => {
  const statements: Array<[string, unknown[]]> = [
    ['select 1', []],
    ['update accounts set balance = balance - ? where id = ? and balance >= ?', [30, 'alice', 30]],
    ['insert into ?? (gid, op) values (?, ?)', ['dtx_barrier', 'g1', 'try']],
    ['select ?? from ?? where id = ?', ['id', 'bank.accounts', 7]],
    ['select ?? from t', [['a', 'b']]],
    ["select data \\? 'key', ? from docs", ['x']],
    ['select ?::int + ?', [1, 2]],
  ];

  it.each(statements)('numbers %s as knex.raw does on pg', (sql, values) => {
    const native = pgKnex
      .raw(sql, values as Knex.RawBinding[])
      .toSQL()
      .toNative();
    expect(toNumberedPlaceholders(sql, values)).toEqual({ text: native.sql, values: native.bindings });
  });

  it('refuses placeholders and values that differ in number, and an identifier that is no string, before anything is sent', () => {
    expect(() => toNumberedPlaceholders('select ?, ?', [1])).toThrow(/2 placeholders for 1 values/);
    expect(() => toNumberedPlaceholders('select ?', [1, 2])).toThrow(/1 placeholders for 2 values/);
    expect(() => toNumberedPlaceholders('select ?? from t', [7])).toThrow(/identifier/);
  });
});

describe('errors', () => {
  const pg = (code: string) => Object.assign(new Error(`pg ${code}`), { code, severity: 'ERROR' });

  it('classifies PostgreSQL errors by SQLSTATE and socket code, never by message', () => {
    expect(postgresDialect.classifyError(pg('23505'))).toBe('duplicate-key');
    expect(postgresDialect.classifyError(pg('40P01'))).toBe('deadlock');
    expect(postgresDialect.classifyError(pg('40001'))).toBe('lock-conflict');
    expect(postgresDialect.classifyError(pg('55P03'))).toBe('lock-conflict');
    for (const code of ['08006', '08003', '57P01', 'ECONNRESET']) expect(postgresDialect.classifyError(pg(code)), code).toBe('connection-lost');
    expect(postgresDialect.classifyError(pg('23503'))).toBe('other');
    expect(postgresDialect.classifyError(new Error('deadlock detected'))).toBe('other');
    expect(postgresDialect.classifyError({ errno: 1213 })).toBe('other');
  });

  it('replays deadlocks, lock timeouts and serialization failures on PostgreSQL, and nothing else', () => {
    for (const code of ['40P01', '40001', '55P03']) expect(isRetryableLockError(pg(code), postgresDialect), code).toBe(true);
    for (const code of ['23505', '57P01', '42P01']) expect(isRetryableLockError(pg(code), postgresDialect), code).toBe(false);
    // MySQL's own, and the default dialect's.
    expect(isRetryableLockError({ errno: 1213 })).toBe(true);
    expect(isRetryableLockError(pg('40P01'))).toBe(false);
  });

  it('counts every statement error as losing the transaction on PostgreSQL (it aborts the transaction), only lock conflicts and lost connections on MySQL', () => {
    for (const error of [pg('23505'), pg('22001'), new Error('Connection terminated unexpectedly')]) {
      expect(isTransactionLostError(error, postgresDialect)).toBe(true);
    }
    expect(isTransactionLostError({ errno: 1062, code: 'ER_DUP_ENTRY' }, mysqlDialect)).toBe(false);
    expect(isTransactionLostError({ errno: 1213 }, mysqlDialect)).toBe(true);
  });

  it("refuses a handler's statements on PostgreSQL after any failed one, without sending them", async () => {
    const sent: string[] = [];
    const guard = new GuardedStatements(async (sql) => {
      sent.push(sql);
      if (sql === 'dup') throw pg('23505');
      return { command: 'SELECT', rows: [], rowCount: 0 };
    }, postgresDialect);
    await expect(guard.query('dup', [])).rejects.toMatchObject({ code: '23505' });
    await expect(guard.query('after', [])).rejects.toBeInstanceOf(TransactionLostError);
    expect(sent).toEqual(['dup']);
    expect(guard.loss?.error).toMatchObject({ code: '23505' });
  });
});

describe('results', () => {
  const result = (command: string, rowCount: number | null, rows: unknown[] = []) => ({ command, rowCount, rows, fields: [] });

  it('reads a pg result as MySQL results are read: rows of a SELECT, rows changed by a write, no insert id', () => {
    expect(postgresDialect.result(result('SELECT', 2, [{ a: 1 }, { a: 2 }]))).toEqual({ rows: [{ a: 1 }, { a: 2 }], affectedRows: 0, insertId: 0 });
    expect(postgresDialect.result(result('UPDATE', 3))).toEqual({ rows: [], affectedRows: 3, insertId: 0 });
    expect(postgresDialect.result(result('INSERT', 1, [{ id: 9 }]))).toEqual({ rows: [{ id: 9 }], affectedRows: 1, insertId: 0 });
    expect(postgresDialect.result(result('CREATE', null))).toEqual({ rows: [], affectedRows: 0, insertId: 0 });
    expect(() => postgresDialect.result([{ affectedRows: 1 }, []])).toThrow(/PostgreSQL driver/);
    expect(mysqlDialect.result([{ a: 1 }])).toEqual({ rows: [{ a: 1 }], affectedRows: 0, insertId: 0 });
    expect(mysqlDialect.result({ affectedRows: 2, insertId: 5 })).toEqual({ rows: [], affectedRows: 2, insertId: 5 });
  });

  it("claims on PostgreSQL with ON CONFLICT DO NOTHING on the barrier's key, inserted exactly when one row was, and never guesses", async () => {
    const claimWith = (answer: unknown) => {
      const sent: Array<{ sql: string; values: readonly unknown[] }> = [];
      const query: BarrierQuery = async (sql, values) => {
        sent.push({ sql, values });
        return answer;
      };
      const row = { table: 'bank.dtx_barrier', gid: 'g1', branchId: 'b1', op: 'try', originOp: 'cancel', createdAt: 5 } as const;
      return { claimed: postgresDialect.claim(query, row), sent };
    };
    const inserted = claimWith(result('INSERT', 1));
    expect(await inserted.claimed).toBe(true);
    expect(inserted.sent).toEqual([
      {
        sql: 'insert into "bank"."dtx_barrier" (gid, branch_id, op, seq, origin_op, created_at) values (?, ?, ?, ?, ?, ?) on conflict (gid, branch_id, op, seq) do nothing',
        values: ['g1', 'b1', 'try', 1, 'cancel', 5],
      },
    ]);
    expect(await claimWith(result('INSERT', 0)).claimed).toBe(false);
    await expect(claimWith(result('INSERT', 2)).claimed).rejects.toMatchObject({ code: 'BARRIER_DRIVER' });
    await expect(claimWith([{ affectedRows: 1 }]).claimed).rejects.toMatchObject({ code: 'BARRIER_DRIVER' });
  });
});

describe('the branch lock', () => {
  it('is taken by the TCC ops and their FMT twins, whose locked reads must see every row of the branch, and by no other', () => {
    expect(BRANCH_OPS.filter((op) => locksBranch(op))).toEqual(['try', 'confirm', 'cancel', 'commit', 'rollback', 'execute']);
  });

  it('is a transaction advisory lock on PostgreSQL, and nothing sent on MySQL', async () => {
    const sent: Array<{ sql: string; values: readonly unknown[] }> = [];
    const query: BarrierQuery = async (sql, values) => {
      sent.push({ sql, values });
      return result();
    };
    const result = () => ({ command: 'SELECT', rowCount: 1, rows: [{}] });
    await mysqlDialect.lockBranch(query, { table: 'dtx_barrier', gid: 'g1', branchId: 'b1' });
    expect(sent).toEqual([]);
    await postgresDialect.lockBranch(query, { table: 'dtx_barrier', gid: 'g1', branchId: 'b1' });
    expect(sent).toEqual([{ sql: 'select pg_advisory_xact_lock(hashtextextended(?, 0))', values: ['dtx-barrier:g1:b1'] }]);
  });
});
