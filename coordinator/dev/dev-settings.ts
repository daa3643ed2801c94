/**
 * The development coordinator's settings, from its command line and its
 * generated secrets: pure, so the choice of every variable is tested
 * without starting anything. dev-main.ts does the I/O.
 *
 * What it is: one process, the embedded log (PostgreSQL inside the process,
 * in a data folder or in memory), recovery on in-process timers, listening
 * on loopback only, with real keys and tokens generated at its first start
 * (kept in the data folder, so a restart keeps working with what was
 * configured). What it is not: a production set-up — nothing is replicated,
 * one process is a single point of failure.
 */

/** `dtx dev` options. */
export interface DevOptions {
  /** The data folder (the embedded log and the secrets), or null to keep everything in memory. */
  dataDir: string | null;
  /** The port on 127.0.0.1 (0: any free one). */
  port: number;
}

/** What the development coordinator generates once and keeps with its data. */
export interface DevSecrets {
  /** The coordinator's key: participants' `coordinatorKey`, the coordinator's DTX_SECRET. */
  coordinatorKey: string;
  /** The `dev` caller's API token (DtxClient `apiToken`). */
  apiToken: string;
  /** The `dev` caller's key at participants (DtxClient `initiatorKey`; participants' `initiatorKeys: { dev }`). */
  initiatorKey: string;
  /** An operator token for the console and the admin API. */
  adminToken: string;
}

/** The caller name the development coordinator gives its API token. */
export const DEV_CALLER = 'dev';

/** The default data folder, relative to where `dtx dev` runs. */
export const DEFAULT_DEV_DATA_DIR = '.dtx-dev';

/** The default port: the production coordinator's default. */
export const DEFAULT_DEV_PORT = 36789;

/**
 * The coordinator's environment for `options` and `secrets`, over `given`
 * (the process's own environment): what a developer sets explicitly (a log
 * level, participant prefixes) wins, except what makes it a development
 * coordinator — the embedded log, in-process recovery, loopback.
 */
export function devEnvironment(options: DevOptions, secrets: DevSecrets, given: Record<string, string | undefined>): Record<string, string | undefined> {
  return {
    DTX_PARTICIPANTS: 'http://127.0.0.1:*/,http://localhost:*/',
    DTX_LOG_LEVEL: 'warn',
    ...given,
    DTX_LOG_URL: options.dataDir === null ? 'embedded:memory' : `embedded:${options.dataDir}`,
    DTX_MYSQL_URL: undefined,
    DTX_SCHEDULER: 'in-process',
    DTX_HOST: '127.0.0.1',
    DTX_PORT: String(options.port),
    DTX_INSECURE: undefined,
    DTX_SECRET: secrets.coordinatorKey,
    DTX_API_TOKENS: `${DEV_CALLER}:${secrets.apiToken}`,
    DTX_API_SCOPES: `${DEV_CALLER}=*@*`,
    DTX_ADMIN_TOKENS: `${DEV_CALLER}:operator:${secrets.adminToken}`,
  };
}

/** The lines printed once it listens: what to export, and what this mode is not. */
export function devBanner(url: string, options: DevOptions, secrets: DevSecrets): string {
  const where = options.dataDir === null ? 'in memory (gone when it stops)' : `in ${options.dataDir}`;
  return [
    `dtx development coordinator on ${url}`,
    `  log: embedded PostgreSQL ${where}; retries: in-process; no MySQL, no Redis.`,
    `  One process, nothing replicated, ${options.dataDir === null ? 'secrets new at each start' : 'secrets kept with the data, writes not flushed to disk'}: for a laptop, never for production (\`dtx start\`).`,
    '',
    'Initiators (DtxClient):',
    `  export DTX_COORDINATOR_URL=${url}`,
    `  export DTX_API_TOKEN=${secrets.apiToken}`,
    `  export DTX_INITIATOR_KEY=${secrets.initiatorKey}`,
    `Participants (createParticipant) on http://127.0.0.1 or http://localhost, any port:`,
    `  export DTX_COORDINATOR_KEY=${secrets.coordinatorKey}    # coordinatorKey`,
    `  # initiatorKeys: { ${DEV_CALLER}: process.env.DTX_INITIATOR_KEY }`,
    `Console: ${url}/console   (operator token: ${secrets.adminToken})`,
    'Ctrl-C stops it.',
    '',
  ].join('\n');
}
