/**
 * Where the cluster's parts keep their databases: the coordinators share one
 * log, each bank has a database of its own. A home is a MySQL/MariaDB server
 * or a PostgreSQL server (a database per part, made afresh for each cluster),
 * or embedded: PostgreSQL inside the part's own process (PGlite), in a folder
 * per part under `dir`.
 *
 * What differs for the harness: a part reaches a server over a link (which
 * the chaos suite may route through a fault proxy), and the harness may read
 * that database while the part runs; an embedded database has no link, and is
 * its process's alone: the harness reads it only once that process has exited.
 */
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import knexFactory from 'knex';
import { embeddedUrl, openDatabase } from '../shared/database-url.ts';
import { hostPort, withEndpoint, type Endpoint } from './endpoints.ts';

/** Where one kind of part keeps its databases. */
export type DatabaseHome =
  /** A server: `serverUrl` without a database part (PostgreSQL's may name its maintenance database). */
  | { kind: 'mysql' | 'postgres'; serverUrl: string }
  /** In each part's process: a folder per part under `dir`. */
  | { kind: 'embedded'; dir: string };

/** One part's database (freshDatabase). */
export interface PartDatabase {
  /** What the part is given (BANK_DB_URL, DTX_LOG_URL) and what the audit reads: mysql://…, postgres://… or embedded:<folder>. */
  url: string;
  /** The server it is on, where the part's link to it leads; null when embedded (no link: it is in the part's process). */
  server: { kind: 'mysql' | 'postgres'; endpoint: Endpoint } | null;
}

/** The URL a part is given to reach `database`'s server by `endpoint` (its link's proxy, or the server itself). */
export function reachedBy(database: PartDatabase, endpoint: Endpoint): string {
  return database.server === null ? database.url : withEndpoint(database.url, endpoint);
}

/** Per embedded home (its `dir`): an empty database set up once, which every part's folder starts as a copy of. */
const templates = new Map<string, Promise<string>>();

/**
 * The home's template: a database PostgreSQL's initdb set up in `dir`, then
 * closed. Setting one up is seconds of CPU (PGlite runs initdb in
 * WebAssembly); copying the closed folder is what initdb would have written,
 * in a moment.
 */
function templateIn(dir: string): Promise<string> {
  let template = templates.get(dir);
  if (!template) {
    const folder = join(dir, '.template');
    template = (async () => {
      await rm(folder, { recursive: true, force: true });
      await (await openDatabase(embeddedUrl(folder), { poolMax: 1 })).close();
      return folder;
    })();
    templates.set(dir, template);
    // A failed set-up is tried again by the next call.
    template.catch(() => templates.delete(dir));
  }
  return template;
}

/**
 * A fresh database named `name` in `home`: on a server, dropped (a previous
 * run's, with its connections) and created again; embedded, a folder of its
 * own holding an empty database (a copy of the home's template).
 */
export async function freshDatabase(home: DatabaseHome, name: string): Promise<PartDatabase> {
  if (home.kind === 'embedded') {
    const folder = join(home.dir, name);
    await rm(folder, { recursive: true, force: true });
    await cp(await templateIn(home.dir), folder, { recursive: true });
    return { url: embeddedUrl(folder), server: null };
  }
  const server = hostPort(home.serverUrl);
  const postgres = home.kind === 'postgres';
  // A server-wide connection: no database on MySQL, the maintenance database on PostgreSQL.
  const admin = knexFactory({
    client: postgres ? 'pg' : 'mysql2',
    connection: withEndpoint(home.serverUrl, server, postgres ? '/postgres' : '/'),
    pool: { min: 0, max: 1 },
  });
  try {
    if (postgres) {
      await admin.raw('drop database if exists ?? with (force)', [name]);
      await admin.raw('create database ??', [name]);
    } else {
      await admin.raw('DROP DATABASE IF EXISTS ??', [name]);
      await admin.raw('CREATE DATABASE ?? CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci', [name]);
    }
  } finally {
    await admin.destroy();
  }
  return { url: withEndpoint(home.serverUrl, server, `/${name}`), server: { kind: home.kind, endpoint: server } };
}
