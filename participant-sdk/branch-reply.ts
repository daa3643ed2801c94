/**
 * What a participant answers, by barrier result or by error.
 *
 * The status code is the outcome (protocol/wire.ts); the body only helps
 * people and logs. The one rule that matters most: an error is never turned
 * into a success reply.
 */
import type { BarrierRefusal, BarrierResult } from './barrier/barrier.ts';
import type { XaOutcome } from './xa/xa-branch.ts';
import { BarrierInputError, BranchOngoingError, BranchRejectedError, SignatureError } from './errors.ts';
import type { ParticipantReply } from './incoming-call.ts';
import { errorReply } from './incoming-call.ts';
import { REPLY_STATUS } from '@dtx/protocol';

/** Body of a 200 reply (`committed`: a message sender's check-back, whose local transaction committed). */
export type SuccessBody = { ok: true; result: unknown } | { ok: true; duplicate: true } | { ok: true; nullCompensation: true } | { ok: true; committed: true };

export function replyOfResult(result: BarrierResult<unknown>): ParticipantReply {
  switch (result.kind) {
    case 'ran':
      return success({ ok: true, result: result.value === undefined ? null : result.value });
    case 'duplicate':
      // A repeated try gets no result: it was not stored. Callers that need
      // the try's result must not depend on a retried try to get it.
      return success({ ok: true, duplicate: true });
    case 'null-compensation':
      return success({ ok: true, nullCompensation: true });
    case 'suspended':
      return errorReply(REPLY_STATUS.failure, 'SUSPENDED', 'this branch was already cancelled (or null-compensated); a late try/action is refused');
    case 'refused':
      return errorReply(REPLY_STATUS.failure, REFUSAL_REPLIES[result.refusal].code, REFUSAL_REPLIES[result.refusal].message);
  }
}

/** An XA branch call's reply (xa/xa-branch.ts): success but for a late prepare and the calls the protocol never makes. */
export function replyOfXa(outcome: XaOutcome): ParticipantReply {
  switch (outcome.kind) {
    case 'prepared':
      return success({ ok: true, result: outcome.value === undefined ? null : outcome.value });
    case 'duplicate':
      return success({ ok: true, duplicate: true });
    case 'committed':
    case 'rolled-back':
      return success({ ok: true, result: null });
    case 'null-rollback':
      return success({ ok: true, nullCompensation: true });
    case 'suspended':
      return errorReply(REPLY_STATUS.failure, 'SUSPENDED', 'this branch was already rolled back here; a late prepare is refused');
    case 'refused':
      return outcome.refusal === 'prepare-not-found'
        ? errorReply(REPLY_STATUS.failure, 'PREPARE_NOT_FOUND', 'this branch was never prepared here (or was rolled back); a commit is refused')
        : errorReply(REPLY_STATUS.failure, 'ALREADY_COMMITTED', 'this branch was already committed here; a rollback is refused');
  }
}

/**
 * A message sender's answer to the check-back: 200, deliver the message; 409
 * `NOT_COMMITTED`, drop it. The 409 is final: the row written with it refuses
 * a late commit of the message.
 */
export function replyOfCheckBack(answer: 'committed' | 'not-committed'): ParticipantReply {
  if (answer === 'committed') return success({ ok: true, committed: true });
  return errorReply(
    REPLY_STATUS.failure,
    'NOT_COMMITTED',
    "the sender's local transaction of this message never committed here; the message is dropped and a late commit is refused",
  );
}

/**
 * The codes of the barrier's phase-two refusals (barrier/barrier.ts). All
 * are 409: the coordinator keeps retrying a refused confirm/cancel and
 * raises the transaction to an operator, which is what a call the protocol
 * never makes deserves.
 */
export const REFUSAL_REPLIES: Readonly<Record<BarrierRefusal, { code: string; message: string }>> = {
  'try-not-found': { code: 'TRY_NOT_FOUND', message: 'no successful try of this branch here; a confirm is refused' },
  'already-cancelled': { code: 'ALREADY_CANCELLED', message: 'this branch was already cancelled (or null-compensated) here; a confirm is refused' },
  'already-confirmed': { code: 'ALREADY_CONFIRMED', message: 'this branch was already confirmed here; a cancel is refused' },
};

/** How a thrown error is answered. Anything unrecognised is a 500: unknown, retried. */
export function replyOfError(error: unknown): ParticipantReply {
  if (error instanceof BranchRejectedError) return errorReply(REPLY_STATUS.failure, error.code, error.message);
  if (error instanceof BranchOngoingError) return errorReply(REPLY_STATUS.ongoing, error.code, error.message);
  if (error instanceof SignatureError) return errorReply(401, error.code, error.message);
  if (error instanceof BarrierInputError) return errorReply(400, error.code, error.message);
  // The message of an arbitrary error can carry SQL or data: keep it in the
  // participant's logs and send only the error's class.
  const kind = error instanceof Error ? error.name : typeof error;
  return errorReply(500, 'HANDLER_ERROR', `the handler failed (${kind}); see the participant's logs`);
}

function success(body: SuccessBody): ParticipantReply {
  return { statusCode: REPLY_STATUS.success, body };
}

/**
 * The reply as JSON text. A try result that cannot be serialised (a BigInt,
 * a cycle) becomes a 500; its work is committed, and a retried try is then
 * answered as a duplicate.
 */
export function encodeReply(reply: ParticipantReply): { statusCode: number; text: string } {
  try {
    return { statusCode: reply.statusCode, text: JSON.stringify(reply.body) ?? 'null' };
  } catch {
    const fallback = errorReply(500, 'UNSERIALISABLE_RESULT', 'the handler returned a value that is not JSON-serialisable');
    return { statusCode: fallback.statusCode, text: JSON.stringify(fallback.body) };
  }
}
