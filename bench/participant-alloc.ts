/**
 * Memory allocated per participant database call, by layer:
 *
 *   npx tsx bench/participant-alloc.ts
 *
 * Each variant runs 3,000 sequential calls in its own Node process with a
 * 1 MB young generation and --trace-gc; one scavenge per MB allocated, so
 * (scavenges − those of an idle run) × 1 MB ÷ calls is the allocation per
 * call. Allocation sets how often a participant stops for a young-generation
 * collection, which docs/performance.md ("Why p99 misses") ties to the tail.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import knexFactory, { type Knex } from 'knex';
import { createConnection } from 'mysql2/promise';
import { runInBarrier, createBarrierTable } from '@dtx/participant-sdk';
import { provisionServers } from '../tools/environment.ts';

const VARIANTS = {
  'mysql2 query on a pooled connection': async (knex: Knex) => {
    const connection = await knex.client.acquireConnection();
    try {
      await new Promise((resolve, reject) => connection.query(UPDATE, ['x'], (error: unknown) => (error ? reject(error) : resolve(null))));
    } finally {
      await knex.client.releaseConnection(connection);
    }
  },
  'knex.raw, no transaction': async (knex: Knex) => void (await knex.raw(UPDATE, ['x'])),
  'empty knex.transaction (BEGIN, COMMIT)': async (knex: Knex) => void (await knex.transaction(async () => {})),
  'knex.transaction + one statement': async (knex: Knex) => void (await knex.transaction((trx) => trx.raw(UPDATE, ['x']))),
  'runInBarrier + one statement (a try)': async (knex: Knex, i: number) =>
    void (await runInBarrier(knex, { gid: `g${i}-${process.pid}`, branchId: '01', op: 'try', now: Date.now }, (trx) => trx.raw(UPDATE, ['x']))),
} satisfies Record<string, (knex: Knex, i: number) => Promise<void>>;
type Variant = keyof typeof VARIANTS;

const UPDATE = 'update alloc_account set balance = balance + 1 where id = ?';
const CALLS = 3_000;

/** Child: run `calls` calls of one variant against `url`. */
async function runVariant(url: string, variant: Variant, calls: number): Promise<void> {
  const knex = knexFactory({ client: 'mysql2', connection: url, pool: { min: 1, max: 2 } });
  try {
    for (let i = 0; i < calls; i++) await VARIANTS[variant](knex, i);
  } finally {
    await knex.destroy();
  }
}

function scavenges(url: string, variant: Variant, calls: number): number {
  const output = execFileSync(
    process.execPath,
    [
      '--conditions=dtx-source',
      '--import',
      'tsx',
      '--trace-gc',
      '--min-semi-space-size=1',
      '--max-semi-space-size=1',
      fileURLToPath(import.meta.url),
      'child',
      url,
      variant,
      String(calls),
    ],
    { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 },
  );
  return output.split('\n').filter((line) => line.includes('Scavenge')).length;
}

if (process.argv[2] === 'child') {
  await runVariant(process.argv[3]!, process.argv[4] as Variant, Number(process.argv[5]));
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const servers = await provisionServers();
  const admin = await createConnection({ uri: servers.mysqlUrl });
  try {
    await admin.query('CREATE DATABASE IF NOT EXISTS dtx_alloc');
    const url = `${servers.mysqlUrl}/dtx_alloc`;
    const knex = knexFactory({ client: 'mysql2', connection: url });
    await createBarrierTable(knex);
    await knex.raw('create table if not exists alloc_account (id varchar(20) primary key, balance bigint not null)');
    await knex.raw("insert ignore into alloc_account values ('x', 0)");
    await knex.destroy();
    process.stdout.write(`allocation per call (${CALLS} calls each, 1 MB young generation):\n`);
    for (const variant of Object.keys(VARIANTS) as Variant[]) {
      // The idle run counts start-up's own collections (tsx, knex, the first query).
      const base = scavenges(url, variant, 1);
      const loaded = scavenges(url, variant, CALLS + 1);
      process.stdout.write(`  ${variant.padEnd(40)} ${(((loaded - base) * 1024) / CALLS).toFixed(0).padStart(4)} KB\n`);
    }
  } finally {
    await admin.query('DROP DATABASE IF EXISTS dtx_alloc');
    await admin.end();
    await servers.stop();
  }
}
