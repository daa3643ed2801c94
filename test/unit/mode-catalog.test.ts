/** One table of each mode's ops (the protocol's MODE_OPS) that the rules, the catalog the API serves, and the SDK's resources agree with. */
import { describe, expect, it } from 'vitest';
import { MODE_OPS, TRANSACTION_MODES } from '../../protocol/modes.ts';
import { modeCatalog } from '../../coordinator/api/mode-catalog.ts';
import { ALL_RULES, operationsOf, rulesFor } from '../../coordinator/modes/registry.ts';
import { RESOURCE_OPS } from '../../participant-sdk/resource.ts';

describe('the modes', () => {
  it('are the protocol’s, each with rules registering exactly its ops', () => {
    expect(ALL_RULES.map((rules) => rules.mode).sort()).toEqual([...TRANSACTION_MODES].sort());
    for (const mode of TRANSACTION_MODES) {
      expect(rulesFor(mode).operations).toEqual(MODE_OPS[mode].registered);
      // Each phase-two direction calls one of the registered ops.
      expect(MODE_OPS[mode].registered).toEqual(expect.arrayContaining([rulesFor(mode).words.op['rolling-back']]));
    }
  });

  it('tell XA and FMT branches apart by the mode only: both register commit and rollback', () => {
    expect(MODE_OPS.xa.registered).toEqual(MODE_OPS.fmt.registered);
    expect(operationsOf('xa', ['rollback', 'commit'])).toBe(true);
    expect(operationsOf('fmt', ['commit', 'rollback'])).toBe(true);
    expect(operationsOf('tcc', ['commit', 'rollback'])).toBe(false);
    expect(operationsOf('fmt', ['commit'])).toBe(false);
  });

  it('are served with their words, ops and row locks: FMT alone locks rows', () => {
    const { modes } = modeCatalog();
    expect(modes.map((m) => m.mode)).toEqual(ALL_RULES.map((rules) => rules.mode));
    expect(modes.find((m) => m.mode === 'fmt')).toMatchObject({
      statuses: { open: 'executing', committed: 'committed' },
      branchStatuses: { pending: 'executed' },
      firstOp: 'execute',
      registeredOps: ['commit', 'rollback'],
      commitOp: 'commit',
      rollbackOp: 'rollback',
      rowLocks: true,
    });
    expect(modes.filter((m) => m.rowLocks).map((m) => m.mode)).toEqual(['fmt']);
  });

  it("match the SDK's resources: the first op, then the registered ones", () => {
    for (const mode of ['tcc', 'xa', 'fmt'] as const) expect(RESOURCE_OPS[mode]).toEqual([MODE_OPS[mode].first, ...MODE_OPS[mode].registered]);
  });
});
