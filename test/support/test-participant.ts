/**
 * A participant service for tests: one TCC resource (`account`) and one saga
 * resource (`step`) whose every applied op is counted in its own database,
 * with switchable misbehaviour per op, or per op of one branch (reject,
 * ongoing, error, hang), and gates that hold a call until the test opens them.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import knexFactory, { type Knex } from 'knex';
import { pino } from 'pino';
import {
  BranchOngoingError,
  BranchRejectedError,
  createParticipant,
  defineSaga,
  defineTcc,
  dtxParticipantPlugin,
  type BranchContext,
} from '../../participant-sdk/index.ts';
import { TEST_INITIATOR_KEYS } from './coordinator-harness.ts';

export type Behaviour = 'ok' | 'reject' | 'ongoing' | 'error' | 'hang';
export type Op = 'try' | 'confirm' | 'cancel' | 'action' | 'compensate';
const OPS: readonly Op[] = ['try', 'confirm', 'cancel', 'action', 'compensate'];

export interface Gate {
  /** Resolves when a call reached the gate. */
  reached: Promise<void>;
  open(): void;
}

export interface TestParticipant {
  url: string;
  /** Base URL of the `account` resource (for `tx.try({ url })`). */
  resourceUrl: string;
  /** Base URL of the `step` saga resource (`<url>/action`, `<url>/compensate`). */
  sagaUrl: string;
  knex: Knex;
  app: FastifyInstance;
  /** How every call of `op` behaves (of branch `branchId` only, when given: that overrides the op's). */
  behave(op: Op, behaviour: Behaviour, branchId?: string): void;
  /** Every op and branch back to `ok`. */
  behaveWell(): void;
  /** The next call of `op` waits at the gate until `open()`. */
  gate(op: Op): Gate;
  /** The order applied effects were committed in, as `<op> <branchId>` (of one gid). */
  appliedOrder(gid: string): Promise<string[]>;
  /** Calls received per op (including duplicates and refused ones). */
  received: Record<Op, number>;
  /** Applied effects (committed handler runs) of one branch op. */
  effects(gid: string, op: Op, branchId?: string): Promise<number>;
  stop(): Promise<void>;
}

/**
 * @param options - `coordinatorKey`: the key the coordinator signs with (null: insecure development
 *   mode, unsigned calls accepted); `initiatorKeys`: who may try, by caller name (default: the `tests` caller)
 */
export async function startTestParticipant(
  databaseUrl: string,
  options: { coordinatorKey: string | null; initiatorKeys?: Readonly<Record<string, string>> },
): Promise<TestParticipant> {
  const knex = knexFactory({ client: 'mysql2', connection: databaseUrl, pool: { min: 0, max: 20 } });
  await knex.schema.createTable('effects', (t) => {
    t.bigIncrements('id');
    t.string('gid', 128);
    t.string('branch_id', 64);
    t.string('op', 16);
    t.index(['gid', 'op']);
  });
  const behaviours = Object.fromEntries(OPS.map((op) => [op, 'ok'])) as Record<Op, Behaviour>;
  const branchBehaviours = new Map<string, Behaviour>();
  const gates: Partial<Record<Op, { arrive: () => void; opened: Promise<void> }>> = {};
  const received = Object.fromEntries(OPS.map((op) => [op, 0])) as Record<Op, number>;
  const hanging: (() => void)[] = [];

  const apply = async (op: Op, ctx: BranchContext<unknown>) => {
    received[op]++;
    const gate = gates[op];
    if (gate) {
      delete gates[op];
      gate.arrive();
      await gate.opened;
    }
    switch (branchBehaviours.get(`${op} ${ctx.branchId}`) ?? behaviours[op]) {
      case 'reject':
        throw new BranchRejectedError(`test participant rejects ${op}`, { code: 'TEST_REJECT' });
      case 'ongoing':
        throw new BranchOngoingError();
      case 'error':
        throw new Error(`test participant fails ${op}`);
      case 'hang':
        await new Promise<void>((resolve) => hanging.push(resolve));
        throw new Error('released after hanging');
      case 'ok':
        await ctx.trx('effects').insert({ gid: ctx.gid, branch_id: ctx.branchId, op });
        return { applied: op };
    }
  };

  const account = defineTcc<unknown>({
    name: 'account',
    try: (ctx) => apply('try', ctx),
    confirm: async (ctx) => {
      await apply('confirm', ctx);
    },
    cancel: async (ctx) => {
      await apply('cancel', ctx);
    },
  });
  const step = defineSaga<unknown>({
    name: 'step',
    action: async (ctx) => {
      await apply('action', ctx);
    },
    compensate: async (ctx) => {
      await apply('compensate', ctx);
    },
  });
  const participant = createParticipant({
    knex,
    resources: [account, step],
    coordinatorKey: options.coordinatorKey,
    ...(options.coordinatorKey === null ? { insecureDevMode: true } : { initiatorKeys: options.initiatorKeys ?? TEST_INITIATOR_KEYS }),
    logger: pino({ level: 'silent' }),
  });
  await participant.migrate();
  // Stopping must not wait for keep-alive connections of callers that gave up on a call (a timed-out coordinator call).
  const app = Fastify({ logger: false, forceCloseConnections: true });
  await app.register(dtxParticipantPlugin, { participant, prefix: '/dtx' });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });

  return {
    url,
    resourceUrl: `${url}/dtx/account`,
    sagaUrl: `${url}/dtx/step`,
    knex,
    app,
    received,
    behave: (op, behaviour, branchId) => {
      if (branchId === undefined) behaviours[op] = behaviour;
      else branchBehaviours.set(`${op} ${branchId}`, behaviour);
    },
    behaveWell: () => {
      for (const op of OPS) behaviours[op] = 'ok';
      branchBehaviours.clear();
    },
    appliedOrder: async (gid) => {
      const rows = await knex('effects').select('op', 'branch_id').where({ gid }).orderBy('id');
      return rows.map((row: { op: string; branch_id: string }) => `${row.op} ${row.branch_id}`);
    },
    gate: (op) => {
      let arrive!: () => void;
      let open!: () => void;
      const reached = new Promise<void>((resolve) => (arrive = resolve));
      const opened = new Promise<void>((resolve) => (open = resolve));
      gates[op] = { arrive, opened };
      return { reached, open };
    },
    effects: async (gid, op, branchId) => {
      const query = knex('effects').where({ gid, op });
      if (branchId) query.andWhere({ branch_id: branchId });
      const [row] = await query.count({ n: '*' });
      return Number(row?.n ?? 0);
    },
    stop: async () => {
      hanging.splice(0).forEach((release) => release());
      for (const gate of Object.values(gates)) gate?.arrive();
      await app.close();
      await knex.destroy();
    },
  };
}
