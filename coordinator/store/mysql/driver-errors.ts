/**
 * Driver-level error checks the API's outage classification needs
 * (api/outage.ts), kept here so that only store/mysql/ imports knex/mysql2.
 */
import knex from 'knex';

/** knex found no pooled connection within acquireConnectionTimeout. */
export function isPoolAcquireTimeout(error: unknown): boolean {
  return error instanceof knex.KnexTimeoutError;
}
