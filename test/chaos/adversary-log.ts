/**
 * What the harness tells the adversary, and checks after it: the load's real
 * transactions as the coordinators' log shows them (read through the
 * harness's own pool, as any gid could be guessed and read through /v1 by
 * any token), and at the end, that the log holds nothing in the adversary's
 * name. The adversary itself never sees the world: only these answers.
 *
 * Open transactions come first: a cross-caller submit or abort proves
 * something only while its target can still be decided. Targets once seen
 * are remembered, so that the adversary still has some while MariaDB is down.
 */
import type { Violation } from '../../examples/bank-transfer/cluster/audit.ts';
import type { BankName } from '../../examples/bank-transfer/cluster/cluster.ts';
import type { Random } from '../../examples/bank-transfer/cluster/random.ts';
import { waitFor } from '../../tools/wait.ts';
import { branchesOf, type BranchSpec } from './orderings.ts';
import type { ChaosWorld } from './world.ts';

export interface Target {
  gid: string;
  /** Its mode, as the log names it (`tcc`, `saga`, `msg`, `xa`). */
  mode: string;
  /** Whether the log showed it open (not yet decided) when it was picked; null: taken from memory, the log did not answer. */
  open: boolean | null;
  /** Its branches as registered; empty when the log did not answer. */
  branches: BranchSpec[];
  /** A message's sender (the bank its check-back goes to), when known. */
  senderBank: BankName | null;
}

interface Row {
  gid: string;
  mode: string;
  status: string;
  check_url: string | null;
}

/** How long an attempt that wants an open target waits for one (polling the log). */
const OPEN_WAIT_MS = 1_000;

export class AdversaryLog {
  readonly #world: ChaosWorld;
  /** The load's gids: `<prefix>-t<n>`. */
  readonly #loadGids: string;
  readonly #seen = new Map<string, Row>();

  constructor(world: ChaosWorld, gidPrefix: string) {
    this.#world = world;
    this.#loadGids = `${gidPrefix}-t%`;
  }

  /**
   * One of the load's transactions: an open one if one is (or becomes, within a second) open, else a
   * recent one, else one seen before; null when none was ever seen.
   */
  async pick(random: Random): Promise<Target | null> {
    const db = this.#world.coordinatorDb;
    const read = async (open: boolean): Promise<Row[]> => {
      const query = db('dtx_global').where('gid', 'like', this.#loadGids).select('gid', 'mode', 'status', 'check_url').limit(50);
      const rows = (await (open ? query.andWhere('status', 'open') : query.orderBy('created_at', 'desc'))) as Row[];
      for (const row of rows) this.#seen.set(row.gid, row);
      return rows;
    };
    const open: Row[] = await waitFor(
      async (bail) => {
        if (this.#world.aborted) bail(new Error('interrupted'));
        const rows = await read(true);
        return rows.length > 0 ? rows : null;
      },
      { what: 'an open transaction of the load', timeoutMs: OPEN_WAIT_MS, intervalMs: 50 },
    ).then(
      (rows) => rows ?? [],
      () => [],
    );
    if (open.length > 0) return this.#target(random.pick(open), true);
    const recent = await read(false).catch(() => [] as Row[]);
    const row = recent.length > 0 ? random.pick(recent) : null;
    if (row) return this.#target(row, row.status === 'open');
    const remembered = [...this.#seen.values()];
    return remembered.length > 0 ? this.#target(random.pick(remembered), null) : null;
  }

  async #target(row: Row, open: boolean | null): Promise<Target> {
    const branches = open === null ? [] : await branchesOf(this.#world, row.gid).catch(() => []);
    const senderBank = row.check_url === null ? null : this.#world.bankOfUrl(row.check_url);
    return { gid: row.gid, mode: row.mode, open, branches, senderBank };
  }

  /**
   * Nothing in the adversary's name reached the log: no transaction it began (its fresh gids, or
   * another's it got to begin first), no branch it registered. A refusal writes nothing, and a 503
   * to a request that had to be refused must not have written either.
   */
  async traces(caller: string): Promise<Violation[]> {
    const db = this.#world.coordinatorDb;
    const begun = (await db('dtx_global').where({ caller }).pluck('gid')).map(String);
    const registered = (await db('dtx_branch').where({ registered_by: caller }).select('gid', 'branch_id')) as { gid: string; branch_id: string }[];
    const found: Violation[] = [];
    if (begun.length > 0) {
      found.push({ invariant: 'the adversary is refused', detail: `${begun.length} transaction(s) in the log were begun by the adversary`, gids: begun });
    }
    if (registered.length > 0) {
      found.push({
        invariant: 'the adversary is refused',
        detail: `${registered.length} branch(es) in the log were registered by the adversary: ${registered.map((r) => `${r.gid}/${r.branch_id}`).join(', ')}`,
        gids: [...new Set(registered.map((r) => r.gid))],
      });
    }
    return found;
  }
}
