/** Names of the coordinator's tables on PostgreSQL, in one place for the store and the migrations (the same names as on MySQL). */
export const TABLES = {
  global: 'dtx_global',
  branch: 'dtx_branch',
  event: 'dtx_event',
  audit: 'dtx_audit',
  rowLock: 'dtx_row_lock',
  migrations: 'dtx_migrations',
} as const;
