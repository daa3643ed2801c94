/**
 * The bank of the FMT scenarios (fa, fb, fh): one MySQL database with an
 * `accounts` table, served two ways by one Fastify app, with the same SQL:
 *
 *   POST /dtx/debit/execute, /dtx/credit/execute (+ commit, rollback)
 *       FMT resources (defineFmt) with plain-SQL handlers: the SDK images the
 *       rows, writes the undo record and takes the rows' global locks at the
 *       coordinator before the local commit (fa, fh);
 *   POST /plain/debit, /plain/credit
 *       the same UPDATE in a local transaction of its own, no dtx at all: what
 *       a correct client without a coordinator calls (fb).
 *
 *   debit   update accounts set balance = balance - ? where id = ? and balance >= ?   (409 when it changed no row)
 *   credit  update accounts set balance = balance + ? where id = ?
 *
 * Where an FMT call's time goes (docs/performance.md, "FMT"): the process
 * times every SQL statement by kind (BEGIN and COMMIT included: its knex
 * client's query() is wrapped), every lock request to the coordinator
 * (undici's diagnostics channels), the execute handler, and every request,
 * each under the op of the request it ran for (an AsyncLocalStorage), and
 * answers the running totals at GET /bench/phases; the bench reads them
 * around each step (fmt-phases.ts).
 *
 * Environment:
 *   FMT_BANK_NAME          the database's name in the global row locks (fmt.resource), e.g. bank-a (required)
 *   FMT_BANK_DB_URL        mysql://… of an existing database (required)
 *   FMT_BANK_PORT          port on 127.0.0.1 (required)
 *   FMT_BANK_ACCOUNTS      accounts acct-1 … acct-N opened at start (default 1000)
 *   FMT_BANK_BALANCE       each one's opening balance (default 1000000000)
 *   FMT_BANK_POOL_MAX      connections at most (default 20, as the example bank's)
 *   FMT_LOCK_WAIT_MS       fmt.lockWaitMs: how long an execute waits for a row another global transaction holds (default: the SDK's)
 *   DTX_COORDINATOR_KEY    the coordinator's key (required)
 *   DTX_INITIATOR_KEYS     caller=key pairs, comma-separated (required)
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import knexFactory from 'knex';
import { pino } from 'pino';
import { BranchRejectedError, createParticipant, defineFmt, dtxParticipantPlugin } from '@dtx/participant-sdk';

const env = process.env;
const required = (name: string): string => {
  const value = env[name];
  if (!value) {
    process.stderr.write(`${name} is required\n`);
    process.exit(2);
  }
  return value;
};
const name = required('FMT_BANK_NAME');
const dbUrl = required('FMT_BANK_DB_URL');
const port = Number(required('FMT_BANK_PORT'));
const accountCount = Number(env['FMT_BANK_ACCOUNTS'] ?? 1_000);
const openingBalance = Number(env['FMT_BANK_BALANCE'] ?? 1_000_000_000);
const lockWaitMs = env['FMT_LOCK_WAIT_MS'] ? Number(env['FMT_LOCK_WAIT_MS']) : undefined;
const coordinatorKey = required('DTX_COORDINATOR_KEY');
const initiatorKeys = Object.fromEntries(
  required('DTX_INITIATOR_KEYS')
    .split(',')
    .map((pair) => pair.split('=') as [string, string]),
);

// ---------------------------------------------------------------------------
// Phase timing
// ---------------------------------------------------------------------------

const phases = new Map<string, { count: number; ms: number }>();
function record(phase: string, ms: number): void {
  const entry = phases.get(phase);
  if (entry) {
    entry.count++;
    entry.ms += ms;
  } else phases.set(phase, { count: 1, ms });
}

/**
 * The request a statement or a lock request belongs to (its op: execute, commit, rollback, plain),
 * carried through its async calls; `timed`: the time of its phases outside the execute handler, to
 * tell what is left of the request (HTTP, signature checks, JavaScript).
 */
interface RequestPhase {
  op: string;
  inHandler: boolean;
  timed: number;
}
const current = new AsyncLocalStorage<RequestPhase>();

function opOf(path: string): string | null {
  if (path.startsWith('/plain/')) return 'plain';
  const match = /\/(execute|commit|rollback)$/.exec(path);
  return match ? match[1]! : null;
}

/** A phase of the current request (`after commit` outside any: the undo janitor's deletes). */
function recordInRequest(phase: string, ms: number, request = current.getStore()): void {
  record(`${request?.op ?? 'after commit'}: ${phase}`, ms);
  if (request && !request.inHandler) request.timed += ms;
}

/** The kind of an SQL statement, by its text (and, for the barrier's, by the ops it binds). */
function statementKind(sql: string): string {
  const text = sql.trim().toLowerCase();
  if (text.startsWith('set transaction')) return 'sql set isolation';
  if (text.startsWith('begin') || text.startsWith('start transaction')) return 'sql begin';
  if (text.startsWith('commit')) return 'sql commit';
  if (text.startsWith('rollback')) return 'sql rollback';
  if (text.includes('dtx_barrier')) return 'sql barrier';
  if (text.includes('dtx_fmt_undo')) return text.startsWith('delete') ? 'sql undo delete (batched, after the reply)' : 'sql undo record';
  if (text.includes('information_schema')) return 'sql table catalog';
  if (text.startsWith('update')) return 'sql business update';
  if (text.startsWith('select') && text.endsWith('for update')) return 'sql before image (locking read)';
  if (text.startsWith('select')) return 'sql after image (read by key)';
  return 'sql other';
}

const knex = knexFactory({ client: 'mysql2', connection: dbUrl, pool: { min: 0, max: Number(env['FMT_BANK_POOL_MAX'] ?? 20) } });
// Every statement, BEGIN and COMMIT included (a transaction's go to the client's query() without knex's query
// events), on every client knex makes for this one (a transaction's client shares its prototype).
const clientPrototype = Object.getPrototypeOf(knex.client) as { query: (connection: unknown, query: unknown) => Promise<unknown> };
const query = clientPrototype.query;
clientPrototype.query = async function timedQuery(this: unknown, connection: unknown, statement: unknown) {
  const sql = typeof statement === 'string' ? statement : String((statement as { sql?: unknown }).sql ?? '');
  const request = current.getStore();
  const started = performance.now();
  try {
    return await query.call(this, connection, statement);
  } finally {
    recordInRequest(statementKind(sql), performance.now() - started, request);
  }
};

// The lock requests go out on undici (participant-sdk/fmt/coordinator-locks.ts): timed from creation to the end of the reply.
const lockRequests = new WeakMap<object, { started: number; request: RequestPhase | undefined }>();
subscribe('undici:request:create', (message) => {
  const { request } = message as { request: { path: string } };
  if (request.path.endsWith('/locks')) lockRequests.set(request, { started: performance.now(), request: current.getStore() });
});
const lockRequestEnded = (message: unknown) => {
  const { request } = message as { request: object };
  const start = lockRequests.get(request);
  if (start === undefined) return;
  lockRequests.delete(request);
  recordInRequest('row lock request to the coordinator', performance.now() - start.started, start.request);
};
subscribe('undici:request:trailers', lockRequestEnded);
subscribe('undici:request:error', lockRequestEnded);

// ---------------------------------------------------------------------------
// The bank
// ---------------------------------------------------------------------------

const DEBIT = 'update accounts set balance = balance - ? where id = ? and balance >= ?';
const CREDIT = 'update accounts set balance = balance + ? where id = ?';

interface Leg {
  account: string;
  amount: number;
}

function legOf(payload: unknown): Leg {
  const { account, amount } = (payload ?? {}) as Partial<Leg>;
  if (typeof account !== 'string' || !Number.isSafeInteger(amount) || amount! <= 0) {
    throw new BranchRejectedError('expected { account: string, amount: positive integer }', { code: 'BAD_PAYLOAD' });
  }
  return { account, amount: amount! };
}

/** The statement and values of one leg. */
function statementOf(kind: 'debit' | 'credit', leg: Leg): [string, (string | number)[]] {
  return kind === 'debit' ? [DEBIT, [leg.amount, leg.account, leg.amount]] : [CREDIT, [leg.amount, leg.account]];
}

const fmtResource = (kind: 'debit' | 'credit') =>
  defineFmt<unknown, null>({
    name: kind,
    async execute({ payload, sql }) {
      const request = current.getStore();
      if (request) request.inHandler = true;
      const started = performance.now();
      try {
        const leg = legOf(payload);
        const { affectedRows } = await sql(...statementOf(kind, leg));
        if (affectedRows === 0) throw new BranchRejectedError(`cannot ${kind} ${leg.amount} on ${leg.account}`, { code: 'INSUFFICIENT_FUNDS' });
        return null;
      } finally {
        if (request) request.inHandler = false;
        recordInRequest('handler (statement analysis, images, update)', performance.now() - started, request);
      }
    },
  });

await knex.raw(
  'create table if not exists accounts (id varchar(64) primary key, balance bigint not null, frozen bigint not null default 0, incoming bigint not null default 0)',
);
const [[{ n }]] = (await knex.raw('select count(*) as n from accounts')) as [[{ n: number }]];
if (Number(n) === 0 && accountCount > 0) {
  const ids = Array.from({ length: accountCount }, (_, i) => `acct-${i + 1}`);
  await knex('accounts').insert(ids.map((id) => ({ id, balance: openingBalance })));
}

const participant = createParticipant({
  knex,
  resources: [fmtResource('debit'), fmtResource('credit')],
  coordinatorKey,
  initiatorKeys,
  logger: pino({ level: env['FMT_BANK_LOG_LEVEL'] ?? 'warn', base: { service: name } }),
  fmt: { resource: name, ...(lockWaitMs === undefined ? {} : { lockWaitMs }) },
});
await participant.migrate();

const app = Fastify({ logger: false });
// Each request in a context of its own, so that its statements and lock requests are counted under its op.
app.addHook('onRequest', (request, _reply, done) => {
  const op = opOf(request.url);
  if (op === null) done();
  else current.run({ op, inHandler: false, timed: 0 }, done);
});
app.addHook('onResponse', async (request, reply) => {
  const phase = current.getStore();
  if (!phase) return;
  const failed = reply.statusCode >= 300 ? ` (HTTP ${reply.statusCode})` : '';
  record(`${phase.op}: request${failed}`, reply.elapsedTime);
  record(`${phase.op}: rest of the request (HTTP, signature, JavaScript)${failed}`, Math.max(0, reply.elapsedTime - phase.timed));
});
await app.register(dtxParticipantPlugin, { participant, prefix: '/dtx' });

for (const kind of ['debit', 'credit'] as const) {
  app.post(`/plain/${kind}`, async (request, reply) => {
    let leg: Leg;
    try {
      leg = legOf(request.body);
    } catch (error) {
      return reply.code(400).send({ code: 'BAD_PAYLOAD', message: (error as Error).message });
    }
    const changed = await knex.transaction(async (trx) => {
      const [result] = (await trx.raw(...statementOf(kind, leg))) as [{ affectedRows: number }];
      return result.affectedRows;
    });
    if (changed === 0) return reply.code(409).send({ code: 'INSUFFICIENT_FUNDS', message: `cannot ${kind} ${leg.amount} on ${leg.account}` });
    return { ok: true };
  });
}
app.get('/health', async () => ({ status: 'ok' }));
app.get('/bench/phases', async () => ({ phases: Object.fromEntries(phases) }));
await app.listen({ host: '127.0.0.1', port });

const stop = async () => {
  await app.close();
  await participant.close();
  await knex.destroy();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
