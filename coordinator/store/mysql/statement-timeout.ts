/**
 * A client-side bound on every statement the coordinator sends to its log
 * database. A frozen server (SIGSTOPped, a VM paused, a storage stall) keeps
 * its TCP connections established — its kernel still acknowledges — so no
 * socket error and no TCP keepalive ever ends a statement sent to it: only
 * the client's own clock does.
 *
 * mysql2's per-query `timeout` option is not enough on its own (mysql2
 * 3.24): when it fires, the query is called back with
 * PROTOCOL_SEQUENCE_TIMEOUT but the connection stays open, not fatal, with
 * the unanswered query still its current command. knex's pool validates it
 * as healthy and lends it again; whatever is sent on it next (knex's
 * ROLLBACK, the next borrower's statement) queues behind the unanswered one,
 * and a queued query's timer only starts once it is current — so it waits
 * for the frozen server without any bound. And once the server runs again
 * it executes the stale statement (an autocommit write commits).
 *
 * So here a statement's timer starts when it is handed to the driver, and
 * when it fires the connection is destroyed at once and refuses every later
 * query: the pool drops it (knex's validation and mysql2's pool both see it
 * closed), and the server, once it runs again, reads EOF after whatever it
 * had received and rolls back the transaction that was open. A statement
 * list that had reached the server with its COMMIT may still commit then:
 * see docs/protocol.md (Re-sending).
 */
import type { Connection } from 'mysql2';
import { StatementTimeoutError } from '../ports/store-errors.ts';

type QueryCallback = (error: Error | null, ...results: unknown[]) => void;

/** What the bound reaches into: mysql2's callback API, and the socket it runs on. */
interface RawConnection {
  query(sql: unknown, valuesOrCallback?: unknown, callback?: QueryCallback): unknown;
  destroy(): void;
  stream?: { destroy(): void };
}

/**
 * Bounds every later query on `connection` (a mysql2 connection, knex's or a
 * mysql2 pool's) by `timeoutMs`, from the moment it is handed to the driver.
 * Effect when a query's bound passes: the connection is destroyed (socket
 * closed at once), that query is called back with a
 * {@link StatementTimeoutError} (`sent: true`), and every later query on
 * the connection is called back with one (`sent: false`) without being
 * sent. Precondition: called once per connection, before its first query
 * that needs the bound; every query on it passes a callback (the
 * coordinator streams nothing).
 */
export function boundStatements(connection: Connection, timeoutMs: number): void {
  const raw = connection as unknown as RawConnection;
  const send = raw.query.bind(raw);
  let closedBy: StatementTimeoutError | null = null;

  raw.query = (sql, valuesOrCallback, callback) => {
    const done = typeof valuesOrCallback === 'function' ? (valuesOrCallback as QueryCallback) : callback;
    if (typeof done !== 'function') throw new TypeError('a bounded connection runs callback queries only');
    if (closedBy) {
      const refused = new StatementTimeoutError(timeoutMs, false, { cause: closedBy });
      process.nextTick(() => done(refused));
      return undefined;
    }
    let settled = false;
    const finish: QueryCallback = (error, ...results) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      done(error, ...results);
    };
    // Armed before the query is handed over: mysql2 may call back synchronously (a closed connection).
    const timer = setTimeout(() => {
      const timedOut = new StatementTimeoutError(timeoutMs, true);
      if (!closedBy) {
        closedBy = timedOut;
        // destroy() alone half-closes and stops taking commands; the socket must go too, or the
        // server, frozen, would keep it open and the driver would wait for its answer.
        raw.destroy();
        raw.stream?.destroy();
      }
      // mysql2 calls nothing back on a connection it was told to close: every query still on it ends by its own timer.
      finish(timedOut);
    }, timeoutMs);
    return typeof valuesOrCallback === 'function' ? send(sql, finish) : send(sql, valuesOrCallback, finish);
  };
}
