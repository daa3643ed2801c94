/**
 * Requests of a second /v1 caller, `rival` (fuzz-world.ts), against the
 * transactions the first one (`tests`) began: deciding them, registering
 * in them, re-sending their gids as begins, sagas and messages of its own
 * content — and registrations outside its scope (`rival` may begin TCC,
 * sagas and messages at the stub only: never XA, never the participants).
 *
 * Each must get exactly its documented refusal (docs/protocol.md, "Ownership"
 * and "Scopes"); a success, or any other answer, is a finding. The refusal
 * depends on the transaction under test — 404 for a gid nobody began,
 * GID_CONFLICT for a gid of another mode — so each case is generated with
 * its subject.
 */
import fc from 'fast-check';
import type { FuzzCase, SubjectKind } from './fuzz-runner.ts';
import type { FuzzRequest, Refusal } from './fuzz-request.ts';

export const NOT_OWNER: Refusal = { status: 403, code: 'NOT_OWNER' };
export const OUT_OF_SCOPE: Refusal = { status: 403, code: 'OUT_OF_SCOPE' };
const GID_CONFLICT: Refusal = { status: 409, code: 'GID_CONFLICT' };
const NOT_FOUND: Refusal = { status: 404, code: 'NOT_FOUND' };

/** The transactions `tests` begins for these cases, by mode; `none` is a gid nobody began. */
type Begun = Exclude<SubjectKind, 'none'>;
const MODE_OF: Record<Begun, 'tcc' | 'saga' | 'msg'> = {
  trying: 'tcc',
  tried: 'tcc',
  confirmed: 'tcc',
  cancelled: 'tcc',
  stuck: 'tcc',
  saga: 'saga',
  message: 'msg',
};
const begun = fc.constantFrom<Begun>('trying', 'tried', 'confirmed', 'cancelled', 'stuck', 'saga', 'message');
const anySubject: fc.Arbitrary<SubjectKind> = fc.oneof({ weight: 7, arbitrary: begun }, { weight: 1, arbitrary: fc.constant<SubjectKind>('none') });

/** Content of its own: payloads that differ from the owner's, valid JSON all (the refusal, not the parser, is under test). */
const content = fc.jsonValue({ maxDepth: 3 });
/** Where its scope reaches (the stub), and where it does not (the participants, which the allow-list itself lets through). */
const inScope = (what: string) => `{{STUB}}/ok/rival/${what}`;
const outOfScope = fc.constantFrom('{{P_FASTIFY}}', '{{P_NODE}}');

/** A request of the second caller, which must get exactly `expect`. */
export function rival(label: string, path: string, body: unknown, expect: Refusal): FuzzRequest {
  return {
    label: `v1 rival ${label}`,
    target: 'coordinator',
    method: 'POST',
    path,
    headers: [
      ['authorization', 'Bearer {{RIVAL_TOKEN}}'],
      ['content-type', 'application/json'],
    ],
    body: { kind: 'json', value: body },
    expect,
  };
}

/** Re-sending another's gid in `mode`: a gid of another mode is taken, one of the same mode is another's. */
const onTheirGid = (subject: Begun, mode: string): Refusal => (MODE_OF[subject] === mode ? NOT_OWNER : GID_CONFLICT);

const branchId = fc.constantFrom('b1', 'b2', 'r9');
const tccBranch = (url: (op: string) => string) =>
  fc.tuple(branchId, content).map(([id, payload]) => ({ branchId: id, confirmUrl: url('confirm'), cancelUrl: url('cancel'), payload }));
const xaBranch = fc
  .tuple(branchId, content)
  .map(([id, payload]) => ({ branchId: id, commitUrl: inScope('commit'), rollbackUrl: inScope('rollback'), payload }));
const sagaStep = (url: (op: string) => string) =>
  content.map((payload) => ({ id: 's1', action: { url: url('action'), payload }, compensate: { url: url('compensate') } }));

const decisions: fc.Arbitrary<FuzzCase> = fc
  .tuple(anySubject, fc.constantFrom('submit', 'abort'), fc.constantFrom(0, 10))
  .map(([subject, decision, waitMs]) => ({
    subject,
    request: rival(`${decision} / another's`, `/v1/transactions/{{GID}}/${decision}`, { waitMs }, subject === 'none' ? NOT_FOUND : NOT_OWNER),
  }));

const registrations: fc.Arbitrary<FuzzCase> = fc.oneof(
  fc.tuple(anySubject, tccBranch(inScope)).map(([subject, branch]) => ({
    subject,
    request: rival("register / in another's", '/v1/transactions/{{GID}}/branches', { branches: [branch] }, subject === 'none' ? NOT_FOUND : NOT_OWNER),
  })),
  // Outside its scope: refused for that first, whoever began the transaction.
  fc.tuple(anySubject, outOfScope).chain(([subject, participant]) =>
    tccBranch((op) => `${participant}/${op}`).map((branch) => ({
      subject,
      request: rival('register / out of scope', '/v1/transactions/{{GID}}/branches', { branches: [branch] }, OUT_OF_SCOPE),
    })),
  ),
  fc.tuple(anySubject, xaBranch).map(([subject, branch]) => ({
    subject,
    // Registered as XA, as the SDK says its mode: refused for the mode before anything is read.
    request: rival('register / mode out of scope', '/v1/transactions/{{GID}}/branches', { mode: 'xa', branches: [branch] }, OUT_OF_SCOPE),
  })),
);

const begins: fc.Arbitrary<FuzzCase> = fc.oneof(
  fc.tuple(begun, fc.array(tccBranch(inScope), { maxLength: 1 }), fc.constantFrom(1_000, 6 * 3_600_000)).map(([subject, branches, timeoutMs]) => ({
    subject,
    request: rival("begin / another's gid", '/v1/transactions', { gid: '{{GID}}', mode: 'tcc', timeoutMs, branches }, onTheirGid(subject, 'tcc')),
  })),
  fc.tuple(anySubject, outOfScope).chain(([subject, participant]) =>
    tccBranch((op) => `${participant}/${op}`).map((branch) => ({
      subject,
      request: rival('begin / out of scope', '/v1/transactions', { gid: '{{GID}}', mode: 'tcc', branches: [branch] }, OUT_OF_SCOPE),
    })),
  ),
  fc.tuple(anySubject, fc.array(xaBranch, { maxLength: 1 })).map(([subject, branches]) => ({
    subject,
    request: rival('begin / mode out of scope', '/v1/transactions', { gid: '{{GID}}', mode: 'xa', branches }, OUT_OF_SCOPE),
  })),
);

const sagas: fc.Arbitrary<FuzzCase> = fc.oneof(
  fc.tuple(begun, sagaStep(inScope)).map(([subject, step]) => ({
    subject,
    request: rival("saga / another's gid", '/v1/sagas', { gid: '{{GID}}', waitMs: 0, steps: [step] }, onTheirGid(subject, 'saga')),
  })),
  fc.tuple(anySubject, outOfScope).chain(([subject, participant]) =>
    sagaStep((op) => `${participant}/${op}`).map((step) => ({
      subject,
      request: rival('saga / out of scope', '/v1/sagas', { gid: '{{GID}}', waitMs: 0, steps: [step] }, OUT_OF_SCOPE),
    })),
  ),
);

const messages: fc.Arbitrary<FuzzCase> = fc.oneof(
  fc.tuple(begun, content).map(([subject, payload]) => ({
    subject,
    request: rival(
      "message / another's gid",
      '/v1/messages',
      { gid: '{{GID}}', checkUrl: inScope('check'), branches: [{ id: 'r1', url: inScope('deliver'), payload }] },
      onTheirGid(subject, 'msg'),
    ),
  })),
  // A receiver or a check-back outside its scope.
  fc.tuple(anySubject, outOfScope, fc.boolean(), content).map(([subject, participant, receiverOut, payload]) => ({
    subject,
    request: rival(
      'message / out of scope',
      '/v1/messages',
      {
        gid: '{{GID}}',
        checkUrl: receiverOut ? inScope('check') : `${participant}/check`,
        branches: [{ id: 'r1', url: receiverOut ? `${participant}/deliver` : inScope('deliver'), payload }],
      },
      OUT_OF_SCOPE,
    ),
  })),
);

export const rivalCases: fc.Arbitrary<FuzzCase> = fc.oneof(
  { weight: 3, arbitrary: decisions },
  { weight: 3, arbitrary: registrations },
  { weight: 2, arbitrary: begins },
  { weight: 1, arbitrary: sagas },
  { weight: 1, arbitrary: messages },
);
