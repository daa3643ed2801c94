/**
 * Request and reply schemas of the public transaction API. Fastify validates
 * every body and parameter against them before a handler runs.
 */
import { Type, type Static } from '@sinclair/typebox';
import { CALLER_NAME_PATTERN, ID_PATTERN, LIMITS } from '@dtx/protocol';
import { MODES } from '../domain/transaction.ts';
import { STATUS_WORDS } from '../modes/registry.ts';

const Gid = Type.String({ minLength: 1, maxLength: LIMITS.gidMaxLength, pattern: ID_PATTERN, description: 'global transaction id' });
const BranchId = Type.String({ minLength: 1, maxLength: LIMITS.branchIdMaxLength, pattern: ID_PATTERN });
const HTTP_URL = { minLength: 8, maxLength: 2048, pattern: '^https?://[^\\s]+$' } as const;
const HttpUrl = Type.String(HTTP_URL);
const OperationUrl = (description: string) => Type.Optional(Type.String({ ...HTTP_URL, description }));
const Reason = Type.String({ maxLength: 512 });
/** A caller's name (a DTX_API_TOKENS name). */
const CallerName = Type.String({ pattern: CALLER_NAME_PATTERN, description: 'a calling service, by its API token name' });
/** A status in its mode's words (TCC: trying, confirming, cancelling, confirmed, cancelled). */
const Status = Type.Union(STATUS_WORDS.map((s) => Type.Literal(s)));

// `status` is sent with refusals of a transaction (the error handler adds it); declared here or the serializer drops it.
export const ErrorReply = Type.Object({ code: Type.String(), message: Type.String(), status: Type.Optional(Status) });

export const BranchRegistration = Type.Object(
  {
    branchId: BranchId,
    // Every `<operation>Url` field is one of the branch's operations; the
    // transaction's mode says which it must have, and a branch naming others
    // is refused with INVALID_OPERATIONS.
    confirmUrl: OperationUrl('TCC: where the confirm goes (with cancelUrl)'),
    cancelUrl: OperationUrl('TCC: where the cancel goes'),
    commitUrl: OperationUrl('XA and FMT: where the commit goes (with rollbackUrl)'),
    rollbackUrl: OperationUrl('XA and FMT: where the rollback goes'),
    payload: Type.Optional(Type.Unknown({ description: 'JSON sent as the body of both phase-two calls' })),
  },
  { additionalProperties: false },
);
export type BranchRegistrationBody = Static<typeof BranchRegistration>;

export const GidParams = Type.Object({ gid: Gid }, { additionalProperties: false });

const ModeName = Type.Union(
  MODES.map((m) => Type.Literal(m)),
  { description: 'the transaction mode (GET /v1/modes lists them with their words and operations)' },
);
/** The mode a registration or a decision is for: checked against the logged one; left out, the log is read first (one more read). */
const AskedMode = Type.Optional(ModeName);

export const BeginBody = Type.Object(
  {
    gid: Type.Optional(Gid),
    mode: Type.Optional(ModeName),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1 })),
    branches: Type.Optional(Type.Array(BranchRegistration, { maxItems: 100 })),
    joinableBy: Type.Optional(
      Type.Array(CallerName, {
        maxItems: 16,
        uniqueItems: true,
        description: 'other callers that may register branches into it (a participant whose try joins it); only the caller that begins it submits or aborts it',
      }),
    ),
  },
  { additionalProperties: false },
);

export const RegisterBody = Type.Object(
  { mode: AskedMode, branches: Type.Array(BranchRegistration, { minItems: 1, maxItems: 100 }) },
  { additionalProperties: false },
);

export const DecisionBody = Type.Object(
  {
    mode: AskedMode,
    reason: Type.Optional(Reason),
    waitMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 60_000, description: 'how long to wait for phase two before answering' })),
  },
  { additionalProperties: false },
);

const SagaCall = (what: string) =>
  Type.Object(
    {
      url: HttpUrl,
      payload: Type.Optional(Type.Unknown({ description: `JSON body of the ${what}` })),
    },
    { additionalProperties: false },
  );

export const SagaStep = Type.Object(
  {
    id: BranchId,
    action: SagaCall('action'),
    compensate: SagaCall("compensation (default: the action's payload)"),
    dependsOn: Type.Optional(
      Type.Array(BranchId, {
        maxItems: 100,
        uniqueItems: true,
        description: 'steps whose actions must succeed before this one runs; absent: the step before it ([] for none)',
      }),
    ),
    retryLimit: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 1_000, description: 'retries of the action before the saga is compensated; absent: retried until the deadline' }),
    ),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, description: "timeout of one call to this step (at most the coordinator's branch timeout)" })),
  },
  { additionalProperties: false },
);
export type SagaStepBody = Static<typeof SagaStep>;

export const SagaBody = Type.Object(
  {
    gid: Type.Optional(Gid),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, description: 'deadline of the actions: past it, the saga is compensated' })),
    reason: Type.Optional(Reason),
    waitMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 60_000, description: 'how long to wait for the outcome before answering' })),
    steps: Type.Array(SagaStep, { minItems: 1, maxItems: 100 }),
  },
  { additionalProperties: false },
);

export const MessageReceiver = Type.Object(
  {
    id: BranchId,
    url: HttpUrl,
    payload: Type.Optional(Type.Unknown({ description: 'JSON body of the delivery' })),
  },
  { additionalProperties: false },
);

export const MessageBody = Type.Object(
  {
    gid: Type.Optional(Gid),
    checkUrl: HttpUrl,
    timeoutMs: Type.Optional(
      Type.Integer({ minimum: 1, description: 'how long after the prepare the coordinator waits for the submit before asking checkUrl' }),
    ),
    deliverAt: Type.Optional(Type.String({ format: 'date-time', description: 'deliver no earlier than this time' })),
    reason: Type.Optional(Reason),
    branches: Type.Array(MessageReceiver, { minItems: 1, maxItems: 100 }),
  },
  { additionalProperties: false },
);

/** `caller`: who this request authenticated as (its token's name), the name participants are told; null when anonymous (development mode). */
const RequestCaller = Type.Union([CallerName, Type.Null()]);
/**
 * `proofs`: branch id → the registration proof the initiator sends with that branch's try or
 * prepare (`dtx-registration`), for every branch of the request this caller registered (TCC, XA).
 */
const Proofs = Type.Record(Type.String(), Type.String(), {
  description: "branch id → registration proof: send it as the dtx-registration header of the branch's try (prepare)",
});
export const BeginReply = Type.Object({
  gid: Gid,
  status: Status,
  deadlineAt: Type.String(),
  created: Type.Boolean(),
  caller: RequestCaller,
  proofs: Type.Optional(Proofs),
});
export const RegisterReply = Type.Object({ gid: Gid, status: Status, registered: Type.Array(Type.String()), caller: RequestCaller, proofs: Proofs });
export const StatusReply = Type.Object({ gid: Gid, status: Status });
