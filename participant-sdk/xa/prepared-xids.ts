/**
 * The xids the database server holds prepared: `XA RECOVER`, dtx's xids only.
 *
 * XA RECOVER lists the prepared xids of the whole server, every database's,
 * whether or not a session still holds them; it does not list a branch
 * still active (between XA START and XA PREPARE). On MySQL 8 it needs the
 * XA_RECOVER_ADMIN privilege.
 */
import type { Knex } from 'knex';
import { rawQuery, type RawConnection } from '../barrier/mysql-dialect.ts';
import { parseRecoveredXid, type RecoveredXidRow, type Xid } from './xid.ts';

/**
 * The server's prepared xids of dtx's format.
 *
 * Precondition: `knex` uses the mysql2 client. Effect: one XA RECOVER on a pooled connection; nothing changes.
 */
export async function preparedXids(knex: Knex): Promise<Xid[]> {
  const connection = (await knex.client.acquireConnection()) as RawConnection;
  try {
    const rows = (await rawQuery(connection, 'XA RECOVER', [])) as RecoveredXidRow[];
    return rows.map(parseRecoveredXid).filter((xid): xid is Xid => xid !== null);
  } finally {
    await knex.client.releaseConnection(connection);
  }
}
