/**
 * Opening the coordinator's MySQL pool. The URL may carry credentials; it is
 * never logged as is (see `redactUrl`).
 */
import knexFactory, { type Knex } from 'knex';

export interface MysqlOptions {
  url: string;
  poolMax: number;
}

export function connectMysql(options: MysqlOptions): Knex {
  return knexFactory({
    client: 'mysql2',
    connection: options.url,
    pool: {
      min: 0,
      max: options.poolMax,
      // Strict mode turns over-long values into errors instead of silent truncation.
      afterCreate(connection: { query: (sql: string, cb: (err: Error | null) => void) => void }, done: (err: Error | null, c: unknown) => void) {
        connection.query("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'", (err) => done(err, connection));
      },
    },
    acquireConnectionTimeout: 10_000,
  });
}

/** The URL with its password replaced, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable url>';
  }
}
