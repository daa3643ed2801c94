/**
 * Driver-level error checks the API's outage classification needs
 * (api/outage.ts), kept here so that only store/mysql/ imports knex/mysql2.
 */
import knex from 'knex';
import { StatementTimeoutError } from './statement-timeout.ts';

/** knex found no pooled connection within acquireConnectionTimeout. */
export function isPoolAcquireTimeout(error: unknown): boolean {
  return error instanceof knex.KnexTimeoutError;
}

/** The log database did not answer statements, or gave no connection for them, within the statement bound (statement-timeout.ts). */
export function isStatementTimeout(error: unknown): boolean {
  return error instanceof StatementTimeoutError;
}
