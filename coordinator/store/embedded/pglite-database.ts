/**
 * The PostgreSQL store's connection inside the process: PGlite (PostgreSQL
 * compiled to WebAssembly) behind the store's SqlDatabase interface.
 *
 * PGlite is one connection to a single-user server: two transactions must
 * never interleave their statements on it. Every unit — one statement, or a
 * whole transaction from BEGIN to COMMIT — takes the database's one lane in
 * turn (first come, first served): a transaction holds it until it ends, and
 * nothing else runs meanwhile. So the store's locks never wait and its
 * compare-and-sets never race; each unit sees every commit before it. A unit
 * that waits for the lane longer than the bound fails unsent with
 * StatementTimeoutError, as a pool's acquire bound does on a server. (PGlite
 * also serializes its own calls; the lane makes the order and the bound the
 * store's.) A statement itself is not bounded: it runs on this thread, with
 * nothing to wait for but the disk.
 */
import { StatementTimeoutError } from '../ports/store-errors.ts';
import { mkdir } from 'node:fs/promises';
import type { PGlite, Transaction } from '@electric-sql/pglite';
import { DatabaseClosedError } from '../postgres/client-errors.ts';
import { lockFolder, type FolderLock } from './folder-lock.ts';
import type { SqlDatabase, SqlResult, SqlSession } from '../postgres/sql-database.ts';

export interface PgliteOptions {
  /** The data folder (created if missing), or null: in memory, nothing kept. */
  dataDir: string | null;
  /** Longest a unit waits for the lane. */
  waitBoundMs: number;
}

type Queryable = Pick<Transaction, 'query'>;

/** Opens the embedded database lazily: PGlite starts (seconds) on the first statement. */
export function openPglite(options: PgliteOptions): SqlDatabase {
  return new PgliteDatabase(options);
}

class PgliteDatabase implements SqlDatabase {
  #started: Promise<PGlite> | null = null;
  /** Releases the data folder's lock (folder-lock.ts), once taken. */
  #unlock: FolderLock | null = null;
  /** The end of the lane: the unit queued last settles it. */
  #tail: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(private readonly options: PgliteOptions) {}

  /** `options.reuse` is not needed here: PGlite, in the process, has no round trip to save. */
  query<R>(sql: string, values: readonly unknown[] = []): Promise<SqlResult<R>> {
    return this.#inTurn((db) => run<R>(db, sql, values));
  }

  transaction<T>(work: (session: SqlSession) => Promise<T>): Promise<T> {
    // PGlite's transaction(): BEGIN, then COMMIT if `work` resolves, ROLLBACK if it throws.
    return this.#inTurn((db) => db.transaction((tx) => work({ query: (sql, values = []) => run(tx, sql, values) })));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // After the units already in the lane: they end first.
    const started = this.#started;
    await this.#tail;
    if (started) await (await started.catch(() => null))?.close();
    await this.#unlock?.();
  }

  /** Runs `unit` when its turn in the lane comes, or fails it unsent if that takes longer than the bound. */
  #inTurn<T>(unit: (db: PGlite) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new DatabaseClosedError());
    const boundMs = this.options.waitBoundMs;
    return new Promise<T>((resolve, reject) => {
      let expired = false;
      const timer = setTimeout(() => {
        expired = true;
        reject(new StatementTimeoutError(boundMs, false));
      }, boundMs);
      this.#tail = this.#tail.then(async () => {
        clearTimeout(timer);
        if (expired) return;
        try {
          resolve(await unit(await this.#database()));
        } catch (error) {
          reject(error);
        }
      });
    });
  }

  #database(): Promise<PGlite> {
    this.#started ??= this.#start();
    return this.#started;
  }

  /** PGlite in memory, or on the data folder, created if missing (PGlite runs initdb in an empty folder) and locked first. */
  async #start(): Promise<PGlite> {
    // Loaded only by a coordinator whose log is embedded.
    const { PGlite } = await import('@electric-sql/pglite');
    const { dataDir } = this.options;
    if (dataDir === null) return PGlite.create();
    await mkdir(dataDir, { recursive: true });
    this.#unlock = await lockFolder(dataDir);
    try {
      return await PGlite.create({ dataDir });
    } catch (error) {
      await this.#unlock();
      throw error;
    }
  }
}

async function run<R>(db: Queryable, sql: string, values: readonly unknown[]): Promise<SqlResult<R>> {
  const result = await db.query<R>(sql, values as unknown[]);
  // PGlite counts the rows a statement wrote (affectedRows: 0 for a SELECT) apart from those it returned.
  return { rows: result.rows, rowCount: Math.max(result.rows.length, result.affectedRows ?? 0) };
}
