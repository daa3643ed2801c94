/**
 * Carrying out fault actions on a ChaosWorld, and running a whole schedule.
 * Every action that takes something away (a process, a server, a link)
 * gives it back at the end of its window; heal() is the backstop.
 */
import { Redis } from 'ioredis';
import { cancelBeforeTry, replayFinished, replayInFlight, tryAfterTimeout, tryCancelRace } from './orderings.ts';
import { describeStep, faultKind, type FaultAction, type FaultStep } from './schedule.ts';
import type { ChaosWorld } from './world.ts';

/** SIGKILL, wait, start again (until healthy: a start can fail while the database is down). */
async function crash(world: ChaosWorld, target: string, kill: () => Promise<void>, downMs: number, restart: () => Promise<void>): Promise<void> {
  await world.exclusive(target, async () => {
    await kill();
    await world.sleep(downMs);
    // Interrupted: cleanup stops everything anyway; restarting now would race it.
    if (!world.aborted) await restart();
  });
}

export async function flushRedis(world: ChaosWorld): Promise<void> {
  const redis = new Redis(world.servers.redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.flushall();
  } finally {
    redis.disconnect();
  }
}

/**
 * Ends every session the system has open on the coordinators' (or the
 * banks') databases, from a session of the harness's own: KILL CONNECTION on
 * MySQL, pg_terminate_backend on PostgreSQL (database-servers.ts). Returns
 * how many were ended.
 */
export function killDbConnections(world: ChaosWorld, of: 'coordinators' | 'banks'): Promise<number> {
  return world.database.killSystemSessions(of === 'coordinators' ? [world.coordinatorDatabase] : world.bankDatabases);
}

/** The database server each server-kill action takes down. */
const KILLED_SERVER = { 'kill-mariadb': 'mysql', 'kill-postgres': 'postgres' } as const;

export async function perform(world: ChaosWorld, action: FaultAction): Promise<void> {
  const { cluster, servers } = world;
  world.count(faultKind(action));
  switch (action.kind) {
    case 'kill-coordinator': {
      const coordinator = cluster.coordinators[action.index]!;
      return crash(
        world,
        coordinator.name,
        () => coordinator.kill('SIGKILL'),
        action.downMs,
        () => world.ensureUp(coordinator),
      );
    }
    case 'kill-bank': {
      const bank = cluster.banks[action.bank];
      return crash(
        world,
        bank.name,
        () => bank.kill('SIGKILL'),
        action.downMs,
        () => world.ensureUp(bank),
      );
    }
    case 'kill-redis':
      return crash(
        world,
        'redis',
        () => servers.redis.kill('SIGKILL'),
        action.downMs,
        () => servers.redis.start(),
      );
    case 'kill-mariadb':
    case 'kill-postgres': {
      const { database } = world;
      if (database.kind !== KILLED_SERVER[action.kind]) throw new Error(`${action.kind}: this system runs on ${database.name}`);
      return crash(
        world,
        database.name,
        () => database.server.kill('SIGKILL'),
        action.downMs,
        () => database.server.start(),
      );
    }
    case 'flush-redis':
      // After a restart in progress, not against a server that is down.
      return world.exclusive('redis', () => flushRedis(world));
    case 'kill-db-connections':
      world.count('db-connections-killed', await killDbConnections(world, action.of));
      return;
    case 'link': {
      const proxy = world.proxies.get(action.link);
      if (!proxy) throw new Error(`no proxy on link ${action.link}`);
      return world.exclusive(action.link, async () => {
        await proxy.setMode(action.mode, { delayMs: action.delayMs });
        await world.sleep(action.durationMs);
        await proxy.setMode('pass');
      });
    }
    case 'cancel-before-try':
      return cancelBeforeTry(world);
    case 'try-after-timeout':
      return tryAfterTimeout(world);
    case 'try-cancel-race':
      return tryCancelRace(world);
    case 'replay-finished':
      return replayFinished(world, action.count);
    case 'replay-in-flight':
      return replayInFlight(world, action.count);
  }
}

/**
 * Runs every step at its time (the sleeps ARE the schedule). A step that
 * cannot be carried out (its target is down because of another fault) is
 * noted, not fatal. Resolves when every step, restores included, is done.
 */
export async function runSchedule(world: ChaosWorld, steps: readonly FaultStep[], log: (line: string) => void): Promise<void> {
  const started = Date.now();
  await Promise.all(
    steps.map(async (step) => {
      await world.sleep(started + step.atMs - Date.now());
      if (world.aborted) return;
      log(describeStep(step));
      await perform(world, step.action).catch((error: unknown) => {
        world.note(`${describeStep(step).trim()}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
      });
    }),
  );
}
