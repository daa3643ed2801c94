/**
 * The transaction log: global transactions, their branches and an
 * append-only event history. Times are epoch milliseconds in BIGINT columns,
 * free of server time-zone settings.
 */
import type { Knex } from 'knex';
import { TABLES } from '../tables.ts';

export const name = '0001-transaction-log';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable(TABLES.global, (t) => {
    t.string('gid', 128).primary();
    t.string('mode', 16).notNullable();
    t.string('status', 16).notNullable();
    t.string('reason', 512).nullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.bigInteger('deadline_at').notNullable();
    t.bigInteger('finished_at').nullable();
    t.integer('retry_count').unsigned().notNullable().defaultTo(0);
    // NULL once terminal: the due index then holds open transactions only,
    // so recovery never scans finished rows.
    t.bigInteger('next_retry_at').nullable();
    t.boolean('needs_attention').notNullable().defaultTo(false);
    t.string('attention_reason', 512).nullable();
    t.string('lease_owner', 128).nullable();
    t.bigInteger('lease_until').nullable();
    t.index(['next_retry_at'], 'idx_global_due');
    t.index(['status', 'created_at'], 'idx_global_status_age');
    t.index(['needs_attention', 'created_at'], 'idx_global_attention');
  });

  await knex.schema.createTable(TABLES.branch, (t) => {
    t.string('gid', 128).notNullable();
    t.string('branch_id', 64).notNullable();
    t.string('confirm_url', 2048).notNullable();
    t.string('cancel_url', 2048).notNullable();
    t.text('payload', 'mediumtext').notNullable();
    t.string('status', 16).notNullable();
    t.integer('attempts').unsigned().notNullable().defaultTo(0);
    t.string('last_error', 1024).nullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.primary(['gid', 'branch_id']);
  });

  await knex.schema.createTable(TABLES.event, (t) => {
    t.bigIncrements('id').primary();
    t.string('gid', 128).notNullable();
    t.bigInteger('at').notNullable();
    t.string('kind', 16).notNullable();
    t.string('branch_id', 64).nullable();
    t.string('op', 16).nullable();
    t.string('from_status', 16).nullable();
    t.string('to_status', 16).nullable();
    t.string('outcome', 16).nullable();
    t.integer('attempt').unsigned().nullable();
    t.string('message', 1024).nullable();
    t.string('actor', 128).nullable();
    t.index(['gid', 'id'], 'idx_event_gid');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists(TABLES.event);
  await knex.schema.dropTableIfExists(TABLES.branch);
  await knex.schema.dropTableIfExists(TABLES.global);
}
