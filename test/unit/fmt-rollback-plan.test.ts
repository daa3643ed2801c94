/**
 * FMT's rollback decision, without a database: which rows must be as the
 * branch left them, in which order the restore runs, what is reported
 * dirty; and, over random histories on an in-memory table, that running the
 * plan always gives back the table as it was before the branch.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keyOfImage, type RowImage } from '../../participant-sdk/fmt/images.ts';
import { pkId, planRollback, touchedKeys, type RestoreStep } from '../../participant-sdk/fmt/rollback-plan.ts';
import type { TableMeta } from '../../participant-sdk/fmt/table-meta.ts';
import type { UndoRecord } from '../../participant-sdk/fmt/undo-log.ts';
import { column } from '../support/fmt-columns.ts';

const T: TableMeta = {
  schema: 'app',
  name: 't',
  qualifiedName: 'app.t',
  primaryKey: ['a', 'b'],
  columns: [column('a'), column('b'), column('v'), column('stamp', { autoUpdated: true })],
};
const TABLES = new Map([[T.qualifiedName, T]]);

const row = (a: string, b: string, v: string | null, stamp = 's0'): RowImage => ({ a, b, v, stamp });

function record(seq: number, before: RowImage[], after: RowImage[]): UndoRecord {
  return { gid: 'g', branchId: 'b1', seq, table: T.qualifiedName, before, after, createdAt: 0 };
}

/** The current rows, as rollback.ts reads them. */
function current(rows: RowImage[]): Map<string, Map<string, RowImage>> {
  return new Map([[T.qualifiedName, new Map(rows.map((r) => [pkId(keyOfImage(r, T.primaryKey)), r]))]]);
}

const brief = (steps: RestoreStep[]) =>
  steps.map((step) => `${step.action} ${step.pk.join('/')} ${step.action === 'delete' ? '' : String(step.row['v'])}`.trim());

describe('planRollback', () => {
  it('restores every statement, newest first, each row back to that statement’s before image, when all rows are as the branch left them', () => {
    const records = [
      record(1, [row('1', 'x', 'old')], [row('1', 'x', 'new')]), // update
      record(2, [], [row('2', 'x', 'ins'), row('3', 'x', 'ins')]), // insert of two rows
      record(3, [row('4', 'x', 'gone')], []), // delete
    ];
    const plan = planRollback(records, TABLES, current([row('1', 'x', 'new'), row('2', 'x', 'ins'), row('3', 'x', 'ins')]));
    expect(plan.kind).toBe('restore');
    if (plan.kind !== 'restore') return;
    expect(brief(plan.steps)).toEqual(['insert 4/x gone', 'delete 3/x', 'delete 2/x', 'update 1/x old']);
    expect(plan.rows).toBe(4);
  });

  it('reports a row changed since (and changes nothing): a value, a row deleted, a row inserted again', () => {
    const records = [record(1, [row('1', 'x', 'old')], [row('1', 'x', 'new')]), record(2, [], [row('2', 'x', 'ins')]), record(3, [row('3', 'x', 'gone')], [])];
    const plan = planRollback(records, TABLES, current([row('1', 'x', 'someone else'), row('3', 'x', 'back')]));
    expect(plan).toEqual({
      kind: 'dirty',
      rows: [
        { table: 'app.t', pk: ['1', 'x'], before: row('1', 'x', 'old'), after: row('1', 'x', 'new'), current: row('1', 'x', 'someone else') },
        { table: 'app.t', pk: ['2', 'x'], before: null, after: row('2', 'x', 'ins'), current: null },
        { table: 'app.t', pk: ['3', 'x'], before: row('3', 'x', 'gone'), after: null, current: row('3', 'x', 'back') },
      ],
    });
  });

  it('does not count a change of a column the database writes by itself as dirty', () => {
    const plan = planRollback([record(1, [row('1', 'x', 'old')], [row('1', 'x', 'new', 's1')])], TABLES, current([row('1', 'x', 'new', 's2')]));
    expect(plan.kind).toBe('restore');
  });

  it('judges a row two statements touched by the LAST after image, and restores it to the FIRST before image', () => {
    const records = [record(1, [row('1', 'x', 'v0')], [row('1', 'x', 'v1')]), record(2, [row('1', 'x', 'v1')], [row('1', 'x', 'v2')])];
    // As the first statement left it is not as the branch left it.
    expect(planRollback(records, TABLES, current([row('1', 'x', 'v1')])).kind).toBe('dirty');
    const plan = planRollback(records, TABLES, current([row('1', 'x', 'v2')]));
    expect(plan.kind === 'restore' && brief(plan.steps)).toEqual(['update 1/x v1', 'update 1/x v0']);
    expect(plan.kind === 'restore' && plan.rows).toBe(1);
  });

  it('handles a row inserted, updated and deleted by the branch: absent now and before, so nothing is dirty', () => {
    const records = [record(1, [], [row('9', 'z', 'a')]), record(2, [row('9', 'z', 'a')], [row('9', 'z', 'b')]), record(3, [row('9', 'z', 'b')], [])];
    const plan = planRollback(records, TABLES, current([]));
    expect(plan.kind === 'restore' && brief(plan.steps)).toEqual(['insert 9/z b', 'update 9/z a', 'delete 9/z']);
  });

  it('lists the touched keys to read, once each', () => {
    const records = [record(2, [row('1', 'x', 'a')], [row('1', 'x', 'b')]), record(1, [], [row('2', 'y', 'c')]), record(3, [row('1', 'x', 'b')], [])];
    expect(touchedKeys(records, TABLES)).toEqual(
      new Map([
        [
          'app.t',
          [
            ['2', 'y'],
            ['1', 'x'],
          ],
        ],
      ]),
    );
  });

  it('forces every row from whatever it is now back to its first before image (an operator’s restore-before)', () => {
    const records = [record(1, [row('1', 'x', 'v0')], [row('1', 'x', 'v1')]), record(2, [], [row('2', 'x', 'ins')]), record(3, [row('3', 'x', 'gone')], [])];
    const plan = planRollback(records, TABLES, current([row('2', 'x', 'changed'), row('3', 'x', 'back')]), 'force');
    expect(plan.kind === 'restore' && brief(plan.steps)).toEqual(['update 3/x gone', 'delete 2/x', 'insert 1/x v0']);
  });
});

/** Apply restore steps to an in-memory table (by key), as rollback.ts runs them, checking each step finds what it expects. */
function apply(table: Map<string, RowImage>, steps: RestoreStep[]): void {
  for (const step of steps) {
    const id = pkId(step.pk);
    if (step.action === 'insert') {
      expect(table.has(id), `insert of a present row ${id}`).toBe(false);
      table.set(id, step.row);
    } else if (step.action === 'delete') {
      expect(table.has(id), `delete of an absent row ${id}`).toBe(true);
      table.delete(id);
    } else {
      expect(table.has(id), `update of an absent row ${id}`).toBe(true);
      table.set(id, step.row);
    }
  }
}

describe('planRollback over random histories', () => {
  const key = fc.tuple(fc.constantFrom('1', '2', '3', '4'), fc.constantFrom('x', 'y'));
  const op = fc.oneof(
    fc.record({ kind: fc.constant('insert' as const), keys: fc.uniqueArray(key, { minLength: 1, maxLength: 3, selector: (k) => k.join() }), v: fc.string() }),
    fc.record({ kind: fc.constant('update' as const), keys: fc.uniqueArray(key, { minLength: 1, maxLength: 3, selector: (k) => k.join() }), v: fc.string() }),
    fc.record({ kind: fc.constant('delete' as const), keys: fc.uniqueArray(key, { minLength: 1, maxLength: 3, selector: (k) => k.join() }) }),
  );

  it('restores the table exactly as it was, and calls any later change dirty', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(key, { maxLength: 6, selector: (k) => k.join() }),
        fc.array(op, { maxLength: 8 }),
        fc.string(),
        (initialKeys, ops, intruder) => {
          const initial = new Map(initialKeys.map(([a, b]) => [pkId([a, b]), row(a, b, `init ${a}${b}`)]));
          const table = new Map(initial);
          const records: UndoRecord[] = [];
          // Run the statements on the table as the session images them: rows that exist (update, delete) or not (insert).
          for (const statement of ops) {
            const present = statement.keys.filter(([a, b]) => table.has(pkId([a, b])));
            const before: RowImage[] = [];
            const after: RowImage[] = [];
            if (statement.kind === 'insert') {
              for (const [a, b] of statement.keys.filter(([a, b]) => !table.has(pkId([a, b])))) {
                const inserted = row(a, b, statement.v);
                table.set(pkId([a, b]), inserted);
                after.push(inserted);
              }
            } else {
              for (const [a, b] of present) {
                const old = table.get(pkId([a, b]))!;
                before.push(old);
                if (statement.kind === 'delete') table.delete(pkId([a, b]));
                else {
                  const updated = { ...old, v: statement.v };
                  table.set(pkId([a, b]), updated);
                  after.push(updated);
                }
              }
            }
            if (before.length + after.length > 0) records.push(record(records.length + 1, before, after));
          }
          const now = new Map([[T.qualifiedName, table]]);
          const plan = planRollback(records, TABLES, now);
          expect(plan.kind).toBe('restore');
          if (plan.kind !== 'restore') return;
          const restored = new Map(table);
          apply(restored, plan.steps);
          expect(restored).toEqual(initial);

          // Someone changes a touched row afterwards: dirty, and that row is among those reported.
          const touched = [...(touchedKeys(records, TABLES).get(T.qualifiedName) ?? [])];
          if (touched.length === 0) return;
          const victim = pkId(touched[0]!);
          const changed = new Map(table);
          const was = changed.get(victim);
          if (was && was['v'] !== intruder) changed.set(victim, { ...was, v: intruder });
          else if (was) changed.delete(victim);
          else changed.set(victim, row(touched[0]![0]!, touched[0]![1]!, intruder));
          const dirty = planRollback(records, TABLES, new Map([[T.qualifiedName, changed]]));
          expect(dirty.kind === 'dirty' && dirty.rows.map((r) => pkId(r.pk))).toEqual([victim]);

          // Forced, the restore still ends exactly at the table before the branch.
          const forced = planRollback(records, TABLES, new Map([[T.qualifiedName, changed]]), 'force');
          expect(forced.kind).toBe('restore');
          if (forced.kind !== 'restore') return;
          apply(changed, forced.steps);
          expect(changed).toEqual(initial);
        },
      ),
      { numRuns: 500 },
    );
  });
});
