/**
 * The XA recovery's decisions, without I/O: which coordinator a prepared
 * branch is asked about, and what its answer means.
 *
 * A branch is asked of the coordinator it was prepared through, and of no
 * other: another coordinator (a second deployment, a log restored from a
 * backup, a client pointed at the wrong one) may not know its transaction,
 * or know another transaction of the same gid. And no answer of "no record"
 * ever rolls a branch back: the coordinator registers every branch before
 * its prepare, so the one that prepared it always has a record; one that has
 * none lost it (restored, replaced) or is the wrong one, and the transaction
 * may well have committed. Such a branch is left prepared for an operator.
 */
import { ParticipantConfigError } from '../errors.ts';

/** A transaction's status on the coordinator, in XA's words. */
export type XaGlobalStatus = 'preparing' | 'committing' | 'rolling-back' | 'committed' | 'rolled-back';

/**
 * Why a pass leaves a prepared branch prepared:
 * - `undecided`: its coordinator's transaction is still preparing;
 * - `unknown-to-coordinator`: the coordinator asked has no record of the
 *   transaction (every coordinator asked, for a branch with none recorded);
 * - `coordinator-not-asked`: the branch was prepared through a coordinator
 *   the recovery was not given;
 * - `ambiguous`: the branch recorded no coordinator, and more than one of
 *   the recovery's knows its gid.
 */
export type XaInDoubtReason = 'undecided' | 'unknown-to-coordinator' | 'coordinator-not-asked' | 'ambiguous';

/** What a pass does with a prepared branch; `coordinator` is the one whose answer decided. */
export type XaRecoveryStep = { kind: 'commit'; coordinator: string } | { kind: 'rollback'; coordinator: string } | { kind: 'leave'; reason: XaInDoubtReason };

/** One coordinator's answer about a branch's transaction; null: it has no record of the gid. */
export interface XaAnswer {
  /** The coordinator's URL, normalised. */
  coordinator: string;
  status: XaGlobalStatus | null;
}

/**
 * A coordinator's URL as matched: scheme and host in lower case, a default
 * port dropped, user and password, query and fragment dropped, trailing
 * slashes dropped. A string that is no http(s) URL loses its trailing
 * slashes only.
 */
export function normaliseCoordinatorUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url.replace(/\/+$/, '');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return url.replace(/\/+$/, '');
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
}

/**
 * The recovery's coordinators' URLs, normalised, in order.
 *
 * @throws ParticipantConfigError when there are none, or two name the same coordinator
 */
export function coordinatorUrls(urls: readonly string[]): string[] {
  if (urls.length === 0) throw new ParticipantConfigError('coordinators', 'XA recovery needs at least one coordinator to ask');
  const normalised = urls.map(normaliseCoordinatorUrl);
  const twice = normalised.find((url, i) => normalised.indexOf(url) !== i);
  if (twice !== undefined) throw new ParticipantConfigError('coordinators', `two of the XA recovery's coordinators are ${twice}`);
  return normalised;
}

/**
 * Which of the recovery's coordinators (normalised URLs) to ask about a
 * branch: the one it recorded; every one when it recorded none (prepared by
 * an SDK version that did not record it, or by a call that named no
 * coordinator: `decide` then acts only on an answer that just one of them
 * knows); none when it recorded a coordinator the recovery was not given.
 */
export function coordinatorsToAsk(recorded: string | null, known: readonly string[]): string[] {
  if (recorded === null) return [...known];
  const own = normaliseCoordinatorUrl(recorded);
  return known.includes(own) ? [own] : [];
}

/**
 * What to do with a prepared branch from the answers of the coordinators
 * asked (coordinatorsToAsk). See the module comment: no record is never a
 * reason to roll back.
 */
export function decide(answers: readonly XaAnswer[]): XaRecoveryStep {
  if (answers.length === 0) return { kind: 'leave', reason: 'coordinator-not-asked' };
  const known = answers.filter((answer) => answer.status !== null);
  if (known.length === 0) return { kind: 'leave', reason: 'unknown-to-coordinator' };
  if (known.length > 1) return { kind: 'leave', reason: 'ambiguous' };
  const { coordinator, status } = known[0]!;
  switch (status) {
    case 'committed':
    case 'committing':
      return { kind: 'commit', coordinator };
    case 'rolled-back':
    case 'rolling-back':
      return { kind: 'rollback', coordinator };
    default:
      return { kind: 'leave', reason: 'undecided' };
  }
}
