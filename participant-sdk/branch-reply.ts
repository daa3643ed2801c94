/**
 * What a participant answers, by barrier result or by error (brief §4).
 *
 * The status code is the outcome (protocol/wire.ts); the body only helps
 * people and logs. The one rule that matters most: an error is never turned
 * into a success reply.
 */
import type { BarrierResult } from './barrier/barrier.ts';
import { BarrierInputError, BranchOngoingError, BranchRejectedError, SignatureError } from './errors.ts';
import type { ParticipantReply } from './incoming-call.ts';
import { errorReply } from './incoming-call.ts';
import { REPLY_STATUS } from './protocol/wire.ts';

/** Body of a 200 reply. */
export type SuccessBody =
  | { ok: true; result: unknown }
  | { ok: true; duplicate: true }
  | { ok: true; nullCompensation: true };

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
      return errorReply(
        REPLY_STATUS.failure,
        'SUSPENDED',
        'this branch was already cancelled (or null-compensated); a late try/action is refused',
      );
  }
}

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
