/** Names of the coordinator's tables, in one place for the store and the migrations. */
export const TABLES = {
  global: 'dtx_global',
  branch: 'dtx_branch',
  event: 'dtx_event',
  audit: 'dtx_audit',
  migrations: 'dtx_migrations',
} as const;
