/**
 * Per-test isolation on shared servers: a fresh MySQL database, or a unique
 * Redis key prefix, for each test file / suite.
 */
import { randomBytes } from 'node:crypto';
import { createConnection } from 'mysql2/promise';
import pg from 'pg';

export interface TestDatabase {
  /** The server URL with `/<name>` as its path. */
  url: string;
  name: string;
  /** Drops the database (idempotent). */
  drop(): Promise<void>;
}

const MAX_IDENTIFIER = 64;

/**
 * Creates a database `dtx_<label>_<random hex>` (label reduced to [a-z0-9_],
 * whole name at most 64 chars) on the server at `serverUrl`
 * (`mysql://user:pass@host:port`, a database part, if any, is replaced).
 */
export async function createTestDatabase(serverUrl: string, label: string): Promise<TestDatabase> {
  const suffix = randomBytes(6).toString('hex');
  const room = MAX_IDENTIFIER - 'dtx_'.length - 1 - suffix.length;
  const name = `dtx_${
    sanitize(label, /[^a-z0-9_]+/g, '_')
      .slice(0, room)
      .replace(/_+$/, '') || 'db'
  }_${suffix}`;

  const server = new URL(serverUrl);
  server.pathname = '';
  const conn = await createConnection({ uri: server.toString(), connectTimeout: 10_000 });
  try {
    await conn.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await conn.end();
  }

  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: async () => {
      const c = await createConnection({ uri: server.toString(), connectTimeout: 10_000 });
      try {
        await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * Creates a database `dtx_<label>_<random hex>` on the PostgreSQL server at
 * `serverUrl` (`postgres://user:pass@host:port/<any database>`), as
 * createTestDatabase does on MySQL; its URL names it.
 */
export async function createTestPostgresDatabase(serverUrl: string, label: string): Promise<TestDatabase> {
  const suffix = randomBytes(6).toString('hex');
  const room = MAX_IDENTIFIER - 'dtx_'.length - 1 - suffix.length;
  const name = `dtx_${
    sanitize(label, /[^a-z0-9_]+/g, '_')
      .slice(0, room)
      .replace(/_+$/, '') || 'db'
  }_${suffix}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 10_000 });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE "${name}" ENCODING 'UTF8' TEMPLATE template0`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    // WITH (FORCE) ends the sessions a test left open, as DROP DATABASE on MySQL does not need.
    drop: () => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}

/** A Redis key prefix unique to this call: `dtxtest:<label>:<random hex>` (label reduced to [a-z0-9_-]). */
export function uniqueRedisPrefix(label: string): string {
  return `dtxtest:${sanitize(label, /[^a-z0-9_-]+/g, '_').slice(0, 40) || 'x'}:${randomBytes(4).toString('hex')}`;
}

function sanitize(label: string, disallowed: RegExp, replacement: string): string {
  return label
    .toLowerCase()
    .replace(disallowed, replacement)
    .replace(/_{2,}/g, '_')
    .replace(/^_+|_+$/g, '');
}
