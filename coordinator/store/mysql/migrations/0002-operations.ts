/**
 * What operators need: pausing retries, an audit log of operator actions,
 * and an index for every filter of the admin list (docs/operations.md shows
 * their EXPLAIN).
 */
import type { Knex } from 'knex';
import { TABLES } from '../tables.ts';

export const name = '0002-operations';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable(TABLES.global, (t) => {
    // A paused transaction has next_retry_at NULL: recovery does not see it until resumed.
    t.boolean('paused').notNullable().defaultTo(false);
    t.index(['created_at'], 'idx_global_age');
    t.index(['mode', 'created_at'], 'idx_global_mode_age');
    t.index(['paused', 'created_at'], 'idx_global_paused_age');
  });
  await knex.schema.alterTable(TABLES.branch, (t) => {
    // scheme://host:port of the confirm URL: the participant, for the admin filter.
    t.string('participant', 255).notNullable().defaultTo('');
    t.index(['participant', 'created_at'], 'idx_branch_participant_age');
  });
  await knex.raw("UPDATE ?? SET participant = SUBSTRING_INDEX(confirm_url, '/', 3) WHERE participant = ''", [TABLES.branch]);
  await knex.schema.alterTable(TABLES.event, (t) => {
    // "flagged in the last hour" and similar counts read events by kind and time.
    t.index(['kind', 'at'], 'idx_event_kind_at');
  });
  await knex.schema.createTable(TABLES.audit, (t) => {
    t.bigIncrements('id').primary();
    t.bigInteger('at').notNullable();
    t.string('actor', 128).notNullable();
    t.string('role', 16).notNullable();
    t.string('action', 32).notNullable();
    t.string('gid', 128).nullable();
    t.string('branch_id', 64).nullable();
    t.string('reason', 1024).notNullable();
    t.text('detail').nullable();
    t.index(['at'], 'idx_audit_at');
    t.index(['gid', 'id'], 'idx_audit_gid');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists(TABLES.audit);
  await knex.schema.alterTable(TABLES.event, (t) => {
    t.dropIndex(['kind', 'at'], 'idx_event_kind_at');
  });
  await knex.schema.alterTable(TABLES.branch, (t) => {
    t.dropIndex(['participant', 'created_at'], 'idx_branch_participant_age');
    t.dropColumn('participant');
  });
  await knex.schema.alterTable(TABLES.global, (t) => {
    t.dropIndex(['paused', 'created_at'], 'idx_global_paused_age');
    t.dropIndex(['mode', 'created_at'], 'idx_global_mode_age');
    t.dropIndex(['created_at'], 'idx_global_age');
    t.dropColumn('paused');
  });
}
