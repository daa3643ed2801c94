/**
 * What the coordinator says its modes are (`GET /v1/modes`, `GET
 * /admin/v1/modes`): each mode's words for its statuses and branch statuses,
 * the op its initiator calls first, the ops its branches register and which
 * one phase two calls in each direction, and whether its branches hold row
 * locks. The console and other clients render every mode from this, with no
 * list of their own.
 */
import { MODE_OPS } from '@dtx/protocol';
import { Type } from '@sinclair/typebox';
import { ALL_RULES } from '../modes/registry.ts';

const Words = Type.Record(Type.String(), Type.String());

export const ModeCatalogReply = Type.Object({
  modes: Type.Array(
    Type.Object({
      mode: Type.String(),
      statuses: Words,
      branchStatuses: Words,
      firstOp: Type.Union([Type.String(), Type.Null()]),
      registeredOps: Type.Array(Type.String()),
      commitOp: Type.String(),
      rollbackOp: Type.String(),
      submittedAtBegin: Type.Boolean(),
      rowLocks: Type.Boolean(),
    }),
  ),
});

/** Every mode this coordinator runs, in the registry's order. */
export function modeCatalog() {
  return {
    modes: ALL_RULES.map((rules) => ({
      mode: rules.mode,
      statuses: { ...rules.words.status },
      branchStatuses: { ...rules.words.branchStatus },
      firstOp: MODE_OPS[rules.mode].first,
      registeredOps: [...rules.operations],
      commitOp: rules.words.op.committing,
      rollbackOp: rules.words.op['rolling-back'],
      submittedAtBegin: rules.submittedAtBegin,
      rowLocks: rules.rowLocks,
    })),
  };
}
