/**
 * What the fuzz runs against, all real and on loopback: a coordinator on
 * MariaDB + Redis, a participant (one `account` resource behind the barrier,
 * and an XA resource `xa-account` for prepares that must be refused)
 * served both by the Fastify plugin and by the node:http handler, and a
 * catch-all stub that answers every phase-two call the coordinator makes to
 * a fuzz-registered URL (200, or 503 under /fail/).
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import knexFactory, { type Knex } from 'knex';
import { pino, type Logger } from 'pino';
import { loadConfig, type CoordinatorConfig } from '../../coordinator/config.ts';
import { createCoordinator, type Coordinator } from '../../coordinator/coordinator.ts';
import {
  BranchRejectedError,
  createNodeHandler,
  createParticipant,
  defineTcc,
  defineXa,
  dtxParticipantPlugin,
  type BranchContext,
} from '../../participant-sdk/index.ts';
import { ADMIN_TOKENS, OPERATOR, VIEWER } from '../support/admin-api.ts';
import { TEST_API_TOKEN, TEST_INITIATOR_KEY, TEST_SECRET, testEnv } from '../support/coordinator-harness.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';

/** Log lines kept in memory, so that a finding can show what the server logged while answering it. */
export class LogTail {
  readonly #lines: string[] = [];
  #count = 0;
  readonly stream = {
    write: (line: string) => {
      this.#lines.push(line.length > 4000 ? `${line.slice(0, 4000)}…` : line);
      this.#count++;
      if (this.#lines.length > 200) this.#lines.shift();
    },
  };

  /** A position to read from later. */
  mark(): number {
    return this.#count;
  }

  /** Lines logged since `mark` (at most the last 200). */
  since(mark: number): string[] {
    const wanted = Math.min(this.#count - mark, this.#lines.length);
    return wanted <= 0 ? [] : this.#lines.slice(this.#lines.length - wanted);
  }
}

/** The caller the fuzz's tries act for: the coordinator's `tests` token, as the DtxClient would name it. */
const FUZZ_INITIATOR = 'tests';

/**
 * A second /v1 caller, whose requests aim at the transactions `tests` began (rival-requests.ts).
 * Its scope leaves out XA and every participant but the stub: its registrations there are out of
 * scope.
 */
export const RIVAL = { name: 'rival', token: 'rival-api-token-0123456789', modes: ['tcc', 'saga', 'msg'] } as const;

export interface FuzzWorld {
  coordinator: Coordinator;
  config: CoordinatorConfig;
  ports: { coordinator: number; participantFastify: number; participantNode: number; stub: number };
  /** Base URLs used in registrations. */
  urls: { stub: string; participantFastify: string; participantNode: string };
  /** `rival`: the second /v1 caller's token. */
  tokens: { api: string; rival: string; operator: string; viewer: string };
  /**
   * The participant's keys: the coordinator's (it signs confirm and cancel), and the one initiator's
   * it takes tries from, by its caller name (the API token's name).
   */
  participantKeys: { coordinator: string; initiator: string; initiatorKey: string };
  /** Read access to the coordinator's log database. */
  logDb: Knex;
  /** The participant's own database (barrier table and `effects`). */
  participantDb: Knex;
  coordinatorLog: LogTail;
  participantLog: LogTail;
  /** Whether /v1 refuses calls without a valid token (probed at start). */
  apiAuthActive: boolean;
  stop(): Promise<void>;
}

export interface FuzzWorldOptions {
  /** `mysql://user:pass@host:port`, no database part. */
  mysqlUrl: string;
  redisUrl: string;
  label: string;
}

/** Resource of the fuzz participant: every applied op leaves a row in `effects`. */
function accountResource() {
  const apply = async (op: string, ctx: BranchContext<unknown>) => {
    await ctx.trx('effects').insert({ gid: ctx.gid, branch_id: ctx.branchId, op });
    return { applied: op };
  };
  return defineTcc<unknown>({
    name: 'account',
    try: (ctx) => apply('try', ctx),
    confirm: async (ctx) => {
      await apply('confirm', ctx);
    },
    cancel: async (ctx) => {
      await apply('cancel', ctx);
    },
  });
}

/** The XA resource's name: the fuzz sends it prepares only without a valid registration proof. */
export const FUZZ_XA_RESOURCE = 'xa-account';
/** What the XA resource answers if a prepare ever reaches its handler. */
export const XA_HANDLER_REACHED = 'FUZZ_XA_HANDLER_REACHED';

/**
 * Every prepare the fuzz sends must be refused before its handler (no registration proof of its
 * branch). The handler refuses too, so that one let through leaves no XA branch prepared (its locks
 * would outlive the run and keep the database from being dropped): the oracle then sees its code
 * where it demands NOT_REGISTERED.
 */
function xaResource() {
  return defineXa<unknown>({
    name: FUZZ_XA_RESOURCE,
    prepare: () => {
      throw new BranchRejectedError('a fuzz prepare reached its handler', { code: XA_HANDLER_REACHED });
    },
  });
}

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Answers every call: 503 under /fail/ (a branch that never succeeds), else 200 `{}`. */
function stubServer(): Server {
  return createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const failing = (request.url ?? '').startsWith('/fail/');
      response.writeHead(failing ? 503 : 200, { 'content-type': 'application/json' }).end(failing ? '{"code":"STUB_FAILS","message":"always"}' : '{}');
    });
  });
}

export async function startFuzzWorld(options: FuzzWorldOptions): Promise<FuzzWorld> {
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const step of stops.reverse()) await step().catch(() => undefined);
  };
  try {
    const logDatabase: TestDatabase = await createTestDatabase(options.mysqlUrl, `${options.label}_log`);
    stops.push(() => logDatabase.drop());
    const participantDatabase: TestDatabase = await createTestDatabase(options.mysqlUrl, `${options.label}_participant`);
    stops.push(() => participantDatabase.drop());

    const stub = stubServer();
    const stubPort = await listen(stub);
    stops.push(() => closeServer(stub));

    // The participant.
    const participantDb = knexFactory({ client: 'mysql2', connection: participantDatabase.url, pool: { min: 0, max: 10 } });
    stops.push(() => participantDb.destroy());
    await participantDb.schema.createTable('effects', (t) => {
      t.bigIncrements('id');
      t.string('gid', 128);
      t.string('branch_id', 64);
      t.string('op', 16);
    });
    const participantLog = new LogTail();
    const participant = createParticipant({
      knex: participantDb,
      resources: [accountResource(), xaResource()],
      coordinatorKey: TEST_SECRET,
      initiatorKeys: { [FUZZ_INITIATOR]: TEST_INITIATOR_KEY },
      logger: pino({ level: 'error' }, participantLog.stream),
    });
    await participant.migrate();
    const fastifyHost: FastifyInstance = Fastify({ logger: false });
    await fastifyHost.register(dtxParticipantPlugin, { participant, prefix: '/dtx' });
    await fastifyHost.listen({ host: '127.0.0.1', port: 0 });
    stops.push(() => fastifyHost.close());
    const participantFastifyPort = (fastifyHost.server.address() as AddressInfo).port;
    const nodeHost = createServer(createNodeHandler(participant, { prefix: '/dtx' }));
    const participantNodePort = await listen(nodeHost);
    stops.push(() => closeServer(nodeHost));

    // The coordinator, in process so that its log lines can be kept with each finding.
    const config = loadConfig(
      testEnv(logDatabase.url, options.redisUrl, uniqueRedisPrefix(options.label), {
        // `tests` reaches everything (as in every test); `rival` its modes at the stub only.
        DTX_API_TOKENS: `${FUZZ_INITIATOR}:${TEST_API_TOKEN},${RIVAL.name}:${RIVAL.token}`,
        DTX_API_SCOPES: `${FUZZ_INITIATOR}=*@*;${RIVAL.name}=${RIVAL.modes.join(',')}@http://127.0.0.1:${stubPort}/`,
        DTX_ADMIN_TOKENS: ADMIN_TOKENS,
        // Transactions the fuzz begins without a timeout must not expire during the run.
        DTX_DEFAULT_TIMEOUT_MS: String(6 * 3_600_000),
        DTX_LOG_LEVEL: 'error',
      }),
    );
    const coordinatorLog = new LogTail();
    const logger: Logger = pino({ level: 'error' }, coordinatorLog.stream);
    const coordinator = createCoordinator(config, { logger });
    const coordinatorUrl = await coordinator.start();
    stops.push(() => coordinator.stop());
    const coordinatorPort = Number(new URL(coordinatorUrl).port);

    const logDb = knexFactory({ client: 'mysql2', connection: logDatabase.url, pool: { min: 0, max: 4 } });
    stops.push(() => logDb.destroy());

    // Authentication of /v1 is on when an anonymous call is refused.
    const probe = await fetch(`${coordinatorUrl}/v1/transactions/fuzz-auth-probe`);
    await probe.arrayBuffer();

    return {
      coordinator,
      config,
      ports: { coordinator: coordinatorPort, participantFastify: participantFastifyPort, participantNode: participantNodePort, stub: stubPort },
      urls: {
        stub: `http://127.0.0.1:${stubPort}`,
        participantFastify: `http://127.0.0.1:${participantFastifyPort}/dtx/account`,
        participantNode: `http://127.0.0.1:${participantNodePort}/dtx/account`,
      },
      tokens: { api: TEST_API_TOKEN, rival: RIVAL.token, operator: OPERATOR.token, viewer: VIEWER.token },
      participantKeys: { coordinator: TEST_SECRET, initiator: FUZZ_INITIATOR, initiatorKey: TEST_INITIATOR_KEY },
      logDb,
      participantDb,
      coordinatorLog,
      participantLog,
      apiAuthActive: probe.status === 401,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
