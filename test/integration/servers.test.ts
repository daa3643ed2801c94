/**
 * Proves the test infrastructure: the shared servers from globalSetup work,
 * and private servers survive kill()/start() (durability of committed rows
 * across a SIGKILL of mariadbd, reconnect to a restarted Redis).
 */
import fs from 'node:fs';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createConnection } from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { Redis } from 'ioredis';
import { createTestDatabase, uniqueRedisPrefix } from '../support/databases.ts';
import { startMariadb, startRedis } from '../../tools/servers.ts';
import type { MariadbServer, RedisServer } from '../../tools/servers.ts';
import { waitFor } from '../../tools/wait.ts';

interface ItemRow extends RowDataPacket {
  id: number;
  label: string;
}

describe('shared servers (globalSetup)', () => {
  it('MySQL: creates a test database, writes and reads a row, drops it', async () => {
    const db = await createTestDatabase(inject('mysqlUrl'), 'Servers Test/1');
    expect(db.name).toMatch(/^dtx_servers_test_1_[0-9a-f]+$/);
    expect(db.name.length).toBeLessThanOrEqual(64);
    expect(db.url.endsWith(`/${db.name}`)).toBe(true);

    const conn = await createConnection({ uri: db.url });
    try {
      await conn.query('CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(100) NOT NULL)');
      await conn.query('INSERT INTO items (id, label) VALUES (?, ?)', [1, 'héllo ✓']);
      const [rows] = await conn.query<ItemRow[]>('SELECT id, label FROM items');
      expect(rows.map((r) => ({ id: r.id, label: r.label }))).toEqual([{ id: 1, label: 'héllo ✓' }]);
    } finally {
      await conn.end();
    }

    await db.drop();
    const admin = await createConnection({ uri: inject('mysqlUrl') });
    try {
      const [dbs] = await admin.query<RowDataPacket[]>('SHOW DATABASES LIKE ?', [db.name]);
      expect(dbs).toHaveLength(0);
    } finally {
      await admin.end();
    }
  });

  it('Redis: SET/GET under a unique prefix', async () => {
    const prefix = uniqueRedisPrefix('servers test');
    expect(prefix).toMatch(/^dtxtest:servers_test:[0-9a-f]+$/);
    expect(uniqueRedisPrefix('servers test')).not.toBe(prefix);

    const redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: 1 });
    try {
      await redis.set(`${prefix}:k`, 'v', 'EX', 60);
      expect(await redis.get(`${prefix}:k`)).toBe('v');
      await redis.del(`${prefix}:k`);
    } finally {
      redis.disconnect();
    }
  });
});

describe('private servers: kill() and start()', () => {
  let mariadb: MariadbServer | undefined;
  let redis: RedisServer | undefined;

  afterEach(async () => {
    await Promise.all([mariadb?.stop(), redis?.stop()]);
    mariadb = redis = undefined;
  });

  it('MariaDB keeps committed rows across SIGKILL + restart on the same port', async () => {
    mariadb = await startMariadb();
    const { port, dataDir } = mariadb;
    const firstPid = mariadb.pid;
    expect(mariadb.url).toBe(`mysql://dtx:dtx@127.0.0.1:${port}`);

    const db = await createTestDatabase(mariadb.url, 'durability');
    const conn = await createConnection({ uri: db.url });
    await conn.query('CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB');
    await conn.query('INSERT INTO t VALUES (1, ?)', ['committed']);
    conn.destroy();

    await mariadb.kill();
    expect(mariadb.running).toBe(false);
    // The server is really gone: connecting fails.
    await expect(createConnection({ uri: db.url, connectTimeout: 2_000 })).rejects.toThrow();

    await mariadb.start();
    expect(mariadb.running).toBe(true);
    expect(mariadb.port).toBe(port);
    expect(mariadb.pid).not.toBe(firstPid);

    const again = await createConnection({ uri: db.url });
    try {
      const [rows] = await again.query<RowDataPacket[]>('SELECT v FROM t WHERE id = 1');
      expect(rows[0]?.['v']).toBe('committed');
    } finally {
      await again.end();
    }

    await mariadb.stop();
    expect(fs.existsSync(dataDir)).toBe(false);
  });

  it('Redis restarts on the same port and a client reconnects', async () => {
    redis = await startRedis();
    const { port } = redis;
    const client = new Redis(redis.url, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
    client.on('error', () => undefined);
    try {
      expect(await client.ping()).toBe('PONG');

      await redis.kill();
      expect(redis.running).toBe(false);
      await redis.start();
      expect(redis.port).toBe(port);

      // Same client object: it reconnects by itself.
      await waitFor(async () => (await client.ping()) === 'PONG', { what: 'redis client to reconnect', timeoutMs: 10_000 });
      const prefix = uniqueRedisPrefix('restart');
      await client.set(`${prefix}:k`, '1');
      expect(await client.get(`${prefix}:k`)).toBe('1');
    } finally {
      client.disconnect();
    }
  });
});
