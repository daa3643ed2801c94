/**
 * The embedded log (coordinator/store/embedded/): PGlite is one connection,
 * so the adapter runs one unit at a time — a transaction keeps every other
 * statement out until it ends, and a unit that waits past the bound fails
 * unsent (503 LOG_UNAVAILABLE); a data folder is created if missing and
 * keeps the log across a restart.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openEmbeddedLog } from '../../coordinator/store/embedded/open-embedded-log.ts';
import { EmbeddedLogInUseError, LOCK_FILE } from '../../coordinator/store/embedded/folder-lock.ts';
import { openPglite } from '../../coordinator/store/embedded/pglite-database.ts';
import { StatementTimeoutError, StoreUnavailableError } from '../../coordinator/store/ports/store-errors.ts';
import { registration } from '../../coordinator/testing/store-contract/fixtures.ts';

const T0 = 1_700_000_000_000;

/** A promise and the function that settles it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('the embedded database', () => {
  it('runs a transaction alone from BEGIN to COMMIT: a statement sent meanwhile waits for its COMMIT, and sees it', { timeout: 60_000 }, async () => {
    const db = openPglite({ dataDir: null, waitBoundMs: 10_000 });
    try {
      await db.query('CREATE TABLE lane (id int PRIMARY KEY)');
      const order: string[] = [];
      const inside = gate();
      const release = gate();
      const transaction = db.transaction(async (session) => {
        await session.query('INSERT INTO lane VALUES (1)');
        inside.open();
        await release.opened;
        await session.query('INSERT INTO lane VALUES (2)');
        order.push('transaction ends');
      });
      await inside.opened;
      const read = db.query<{ n: number }>('SELECT count(*)::int AS n FROM lane').then((result) => {
        order.push('statement ran');
        return result.rows[0]!.n;
      });
      release.open();
      await transaction;
      expect(await read).toBe(2);
      expect(order).toEqual(['transaction ends', 'statement ran']);
    } finally {
      await db.close();
    }
  });

  it('fails a unit that waits for the database past the bound, unsent; the transaction holding it still commits', { timeout: 60_000 }, async () => {
    const db = openPglite({ dataDir: null, waitBoundMs: 300 });
    try {
      await db.query('CREATE TABLE lane (id int PRIMARY KEY)');
      const inside = gate();
      const release = gate();
      const transaction = db.transaction(async (session) => {
        inside.open();
        await release.opened;
        await session.query('INSERT INTO lane VALUES (1)');
      });
      await inside.opened;
      const waited = await db.query('INSERT INTO lane VALUES (2)').catch((error: unknown) => error);
      expect(waited).toBeInstanceOf(StatementTimeoutError);
      expect((waited as StatementTimeoutError).sent).toBe(false);
      release.open();
      await transaction;
      expect((await db.query<{ id: number }>('SELECT id FROM lane')).rows).toEqual([{ id: 1 }]);
    } finally {
      await db.close();
    }
  });
});

describe('the embedded log on a data folder', () => {
  it('creates the folder, and keeps the log across a restart', { timeout: 60_000 }, async () => {
    const base = await mkdtemp(path.join(tmpdir(), 'dtx-embedded-'));
    const location = path.join(base, 'nested', 'log');
    try {
      const first = openEmbeddedLog({ location });
      expect(await first.prepare()).toEqual(['0001-transaction-log', '0002-hot-path-functions', '0003-row-locks']);
      expect(await first.store.begin({ gid: 'kept-1', mode: 'tcc', now: T0, deadlineAt: T0 + 60_000, caller: 'tests', branches: [registration('01')] })).toBe(
        'created',
      );
      await first.close();
      await expect(first.store.load('kept-1')).rejects.toBeInstanceOf(StoreUnavailableError);

      const second = openEmbeddedLog({ location });
      try {
        expect(await second.prepare()).toEqual([]);
        expect((await second.store.load('kept-1'))?.branches.map((b) => b.branchId)).toEqual(['01']);
        expect(second.description).toBe(`embedded:${location}`);
      } finally {
        await second.close();
      }
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });

  it("is one process's: a second open of the folder is refused while the first holds it, and allowed once it is closed", { timeout: 60_000 }, async () => {
    const location = await mkdtemp(path.join(tmpdir(), 'dtx-embedded-lock-'));
    try {
      const first = openEmbeddedLog({ location });
      await first.prepare();
      const second = openEmbeddedLog({ location });
      const refused = await second.prepare().catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(EmbeddedLogInUseError);
      expect((refused as EmbeddedLogInUseError).pid).toBe(process.pid);
      await second.close();
      // The refused open left the holder's lock and data alone.
      expect(await readFile(path.join(location, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
      await first.close();
      await expect(readFile(path.join(location, LOCK_FILE), 'utf8')).rejects.toMatchObject({ code: 'ENOENT' });

      const third = openEmbeddedLog({ location });
      try {
        expect(await third.prepare()).toEqual([]);
      } finally {
        await third.close();
      }
    } finally {
      await rm(location, { recursive: true, force: true });
    }
  });

  it('takes over the lock and the leases of a process that died holding them: its transactions are due at once', { timeout: 60_000 }, async () => {
    const location = await mkdtemp(path.join(tmpdir(), 'dtx-embedded-dead-'));
    try {
      const first = openEmbeddedLog({ location });
      await first.prepare();
      const now = Date.now();
      const decision = { to: 'committing' as const, reason: null, actor: 'tests', owner: 'gone#1', leaseUntil: now + 600_000 };
      await first.store.begin({ gid: 'leased-1', mode: 'tcc', now, deadlineAt: now + 60_000, caller: 'tests', branches: [registration('01')], decision });
      // While it lives, its lease keeps others off the transaction.
      expect(await first.store.claim('leased-1', 'other#1', Date.now(), Date.now() + 15_000)).toBeNull();
      await first.close();
      // As a SIGKILL leaves it: the lock of a process that no longer exists.
      const dead = spawnSync(process.execPath, ['-e', '']).pid!;
      await writeFile(path.join(location, LOCK_FILE), `${dead}\n`);

      const second = openEmbeddedLog({ location });
      try {
        await second.prepare();
        expect(await readFile(path.join(location, LOCK_FILE), 'utf8')).toBe(`${process.pid}\n`);
        expect(await second.store.claim('leased-1', 'next#1', Date.now(), Date.now() + 15_000)).toMatchObject({ transaction: { gid: 'leased-1' } });
      } finally {
        await second.close();
      }
    } finally {
      await rm(location, { recursive: true, force: true });
    }
  });
});
