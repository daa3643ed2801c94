/**
 * A handler must not go on once its local transaction is lost.
 *
 * The database answers a deadlock by rolling back the victim's whole
 * transaction: barrier rows and business rows alike. On MySQL the session is
 * then back in autocommit, so a handler that catches the error and carries
 * on would run its later statements as separate statements, each committed
 * at once; on PostgreSQL the aborted transaction refuses them, and its
 * COMMIT silently rolls back. Either way the call would be answered success
 * for work that is partly or wholly gone. So, from the first statement error
 * that loses the transaction, every later statement of the call is refused
 * without being sent, and the call fails with that error whatever the
 * handler then returns or throws: a deadlock or a lock conflict is replayed
 * by the lock retry (lock-retry.ts), anything else is answered as unknown
 * and the coordinator asks again.
 *
 * Lost means, on MySQL/MariaDB: a deadlock (1213); a lock wait timeout
 * (1205: InnoDB rolls back only the statement unless
 * innodb_rollback_on_timeout is on, which the SDK cannot see, so it is
 * counted as lost and the call replayed); a killed connection (1927) or any
 * error mysql2 marks `fatal` (connection lost or reset). Any other statement
 * error leaves the transaction as it was: a handler may catch a duplicate
 * key (1062) on purpose and go on. On PostgreSQL: every statement error,
 * since the database aborts the transaction on any (a duplicate key
 * included; write `insert … on conflict do nothing` rather than catching it).
 *
 * Errors are recognised by the dialect (errno, SQLSTATE, driver code, the
 * driver's `fatal` flag), never by their message.
 */
import type { Knex } from 'knex';
import { DtxError, TransactionLostError } from '../errors.ts';
import type { BarrierDialect } from './dialect.ts';
import { mysqlDialect } from './mysql-dialect.ts';

/** Whether a statement's error lost its transaction on `dialect`'s database (default MySQL). */
export function isTransactionLostError(error: unknown, dialect: BarrierDialect = mysqlDialect): boolean {
  if (dialect.everyErrorLosesTransaction) return true;
  const kind = dialect.classifyError(error);
  return kind === 'deadlock' || kind === 'lock-conflict' || kind === 'connection-lost';
}

/** One statement on a local transaction; resolves to the driver's result. */
export type Statement = (sql: string, values: readonly unknown[]) => Promise<unknown>;

/** The error that lost a transaction, boxed: any value can be thrown, `undefined` included. */
export interface Loss {
  error: unknown;
}

/**
 * The statements one handler sends on a transaction the barrier drives
 * itself (a plain connection, or an XA branch's).
 *
 * They are sent one at a time, each after the previous one settled: a
 * statement already queued in the driver when an earlier one lost the
 * transaction would otherwise run, in autocommit, before anyone could stop
 * it. Once lost (or once the call ended) a statement is refused with
 * TransactionLostError (or TRANSACTION_FINISHED) and never sent.
 */
export class GuardedStatements {
  readonly #send: Statement;
  readonly #dialect: BarrierDialect;
  #loss: Loss | undefined;
  #finished = false;
  #tail: Promise<unknown> = Promise.resolve();

  /**
   * @param send - sends one statement on the transaction
   * @param dialect - whose errors lose the transaction (default MySQL)
   */
  constructor(send: Statement, dialect: BarrierDialect = mysqlDialect) {
    this.#send = send;
    this.#dialect = dialect;
  }

  /** The error that lost the transaction, if one did. */
  get loss(): Loss | undefined {
    return this.#loss;
  }

  readonly query: Statement = (sql, values) => {
    const run = this.#tail.then(() => {
      // A statement sent after its transaction ended would run on a connection that is back in
      // the pool, possibly inside someone else's transaction.
      if (this.#finished) throw new DtxError('TRANSACTION_FINISHED', 'this branch call has ended; its sql can no longer be used');
      if (this.#loss) throw new TransactionLostError(this.#loss.error);
      return this.#send(sql, values).catch((error: unknown) => {
        if (!this.#loss && isTransactionLostError(error, this.#dialect)) this.#loss = { error };
        throw error;
      });
    });
    this.#tail = run.catch(() => undefined);
    return run;
  };

  /** Resolves once every statement started so far has settled (a handler may not have awaited one). */
  async settled(): Promise<void> {
    for (let tail = this.#tail; ; tail = this.#tail) {
      await tail;
      if (tail === this.#tail) return;
    }
  }

  /** Refuse every later statement: the transaction is about to commit or roll back. */
  finish(): void {
    this.#finished = true;
  }
}

/**
 * Watch a knex transaction for a statement error that loses it, whether the
 * statement came from the barrier, `ctx.sql` or the handler's own use of
 * `ctx.trx`: every one of them runs through the transaction's client, which
 * emits `query-error` synchronously, before the failed query's promise
 * settles. On the first such error the knex transaction is rolled back at
 * once; knex then refuses every later query on it without sending it
 * ("Transaction query already complete"), and the transaction's promise
 * rejects with the error that lost it.
 *
 * Limit: statements the handler started in parallel on `trx` are already in
 * the driver's queue when the first of them fails, and run. Send statements
 * one after another (await each), as on any single connection.
 */
export function watchKnexTransaction(trx: Knex.Transaction, dialect: BarrierDialect = mysqlDialect): { readonly loss: Loss | undefined } {
  const watch: { loss: Loss | undefined } = { loss: undefined };
  trx.on('query-error', (error: unknown) => {
    if (watch.loss || !isTransactionLostError(error, dialect)) return;
    watch.loss = { error };
    // Resolves whatever happens (knex reports a failed ROLLBACK through the transaction's promise).
    void trx.rollback(error).catch(() => undefined);
  });
  return watch;
}
