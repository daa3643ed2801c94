/** Names of the coordinator's tables, in one place for the store and the migrations. */
export const TABLES = {
  global: 'dtx_global',
  branch: 'dtx_branch',
  event: 'dtx_event',
  audit: 'dtx_audit',
  rowLock: 'dtx_row_lock',
  migrations: 'dtx_migrations',
} as const;
