/** Schemas of the admin API (validation and, later, its OpenAPI document). */
import { Type, type Static } from '@sinclair/typebox';
import { ID_PATTERN, LIMITS } from '@dtx/protocol';
import { MODES } from '../domain/transaction.ts';
import { STATUS_WORDS } from '../modes/registry.ts';

const Gid = Type.String({ minLength: 1, maxLength: LIMITS.gidMaxLength, pattern: ID_PATTERN });
const BranchId = Type.String({ minLength: 1, maxLength: LIMITS.branchIdMaxLength, pattern: ID_PATTERN });
/** A status in its mode's words (TCC: trying, confirming, …). */
const Status = Type.Union(STATUS_WORDS.map((s) => Type.Literal(s)));
const Mode = Type.Union(MODES.map((m) => Type.Literal(m)));
const BooleanText = Type.Union([Type.Literal('true'), Type.Literal('false')]);
const IsoTime = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,3})?)?(Z|[+-]\\d{2}:\\d{2})$', description: 'ISO 8601 time' });
const Digits = (description: string) => Type.String({ pattern: '^\\d{1,15}$', description });

/**
 * A reason is required for every action: it goes into the audit log and the
 * event history. At least three visible characters: blanks are no reason.
 */
export const Reason = Type.String({ minLength: 3, maxLength: 1000, pattern: '\\S(?:\\s*\\S){2}', description: 'why (3-1000 characters, audited)' });

const filterFields = {
  status: Type.Optional(Status),
  mode: Type.Optional(Mode),
  gidPrefix: Type.Optional(Type.String({ minLength: 1, maxLength: LIMITS.gidMaxLength, pattern: ID_PATTERN })),
  participant: Type.Optional(Type.String({ minLength: 8, maxLength: 255, pattern: '^https?://[^/\\s]+$', description: 'scheme://host:port' })),
  createdAfter: Type.Optional(IsoTime),
  createdBefore: Type.Optional(IsoTime),
};

export const ListQuery = Type.Object(
  {
    ...filterFields,
    needsAttention: Type.Optional(BooleanText),
    paused: Type.Optional(BooleanText),
    olderThanMs: Type.Optional(Digits('only transactions older than this')),
    order: Type.Optional(Type.Union([Type.Literal('newest'), Type.Literal('oldest')])),
    limit: Type.Optional(Digits('page size, 1-500 (default 50)')),
    cursor: Type.Optional(Type.String({ maxLength: 400, pattern: '^[A-Za-z0-9_-]+$' })),
  },
  { additionalProperties: false },
);
export type ListQueryType = Static<typeof ListQuery>;

export const BulkRetryBody = Type.Object(
  {
    filter: Type.Object(
      { ...filterFields, needsAttention: Type.Optional(Type.Boolean()), olderThanMs: Type.Optional(Type.Integer({ minimum: 0 })) },
      { additionalProperties: false },
    ),
    limit: Type.Integer({ minimum: 1, maximum: 100_000 }),
    reason: Reason,
  },
  { additionalProperties: false },
);
export type BulkRetryBodyType = Static<typeof BulkRetryBody>;

export const ActionBody = Type.Object({ reason: Reason }, { additionalProperties: false });
export const CloseBody = Type.Object(
  {
    reason: Reason,
    lastResort: Type.Literal(true, { description: 'must be true: closing calls no participant, branches are left as they are' }),
  },
  { additionalProperties: false },
);

export const GidParams = Type.Object({ gid: Gid }, { additionalProperties: false });
export const BranchParams = Type.Object({ gid: Gid, branchId: BranchId }, { additionalProperties: false });
export const RowLockQuery = Type.Object(
  {
    gid: Type.Optional(Gid),
    resource: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    table: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    limit: Type.Optional(Digits('1-1000, default 100')),
  },
  { additionalProperties: false },
);

export const AuditQuery = Type.Object(
  { gid: Type.Optional(Gid), limit: Type.Optional(Digits('1-500, default 100')), beforeId: Type.Optional(Digits('page: entries older than this id')) },
  { additionalProperties: false },
);
