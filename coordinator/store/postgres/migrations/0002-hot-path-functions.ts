/**
 * The functions of the hot path that read after they wait for a lock: a
 * decision and a claim each run as one call (one round trip, one commit)
 * and return the transaction as it is after them.
 *
 * Why functions and not one statement: every part of a statement (a CTE
 * chain) reads one snapshot, taken when the statement starts. A decision
 * that waited for the row lock of a registration reads the transaction row
 * as that registration left it (PostgreSQL re-reads a row it waited for),
 * but would read the branches as they were before it: the branch just
 * registered would be missing from phase two. Inside a VOLATILE function
 * each statement takes a fresh snapshot at READ COMMITTED, so the read
 * after the update sees every commit that preceded it.
 *
 * `dtx_snapshot` is the transaction and its branches as one json value
 * (the branches in registration order): what load, decide and claim return.
 */
import { TABLES } from '../tables.ts';

export const name = '0002-hot-path-functions';

const OPEN = `('open', 'committing', 'rolling-back')`;

export const statements: readonly string[] = [
  `CREATE FUNCTION dtx_snapshot(p_gid text) RETURNS json LANGUAGE sql STABLE AS $fn$
    SELECT json_build_object(
      'transaction', row_to_json(g),
      'branches', COALESCE((SELECT json_agg(b ORDER BY b.created_at, b.seq, b.branch_id) FROM ${TABLES.branch} b WHERE b.gid = g.gid), '[]'::json))
    FROM ${TABLES.global} g WHERE g.gid = p_gid
  $fn$`,

  // The guard's parts are NULL (or p_by_caller false) when the guard does not set them.
  `CREATE FUNCTION dtx_decide(
      p_gid text, p_to text, p_reason text, p_now bigint, p_actor text, p_owner text, p_lease_until bigint,
      p_from text, p_deadline_after bigint, p_mode text, p_by_caller boolean, p_caller text)
    RETURNS json LANGUAGE plpgsql VOLATILE AS $fn$
  BEGIN
    -- The first decision (leaving open) is kept on the row; a later one (a saga turning back) is a status event,
    -- and it restarts the failed-rounds count.
    UPDATE ${TABLES.global} SET
      status = p_to, reason = p_reason, updated_at = p_now,
      decided_at = CASE WHEN p_from = 'open' THEN p_now ELSE decided_at END,
      decided_by = CASE WHEN p_from = 'open' THEN p_actor ELSE decided_by END,
      retry_count = CASE WHEN p_from = 'open' THEN retry_count ELSE 0 END,
      lease_owner = p_owner, lease_until = p_lease_until, next_retry_at = p_lease_until
    WHERE gid = p_gid AND status = p_from
      AND (p_deadline_after IS NULL OR deadline_at > p_deadline_after)
      AND (p_mode IS NULL OR mode = p_mode)
      AND (NOT p_by_caller OR caller IS NOT DISTINCT FROM p_caller);
    IF NOT FOUND THEN
      RETURN NULL;
    END IF;
    IF p_from <> 'open' THEN
      INSERT INTO ${TABLES.event} (gid, at, kind, from_status, to_status, message, actor) VALUES (p_gid, p_now, 'status', p_from, p_to, p_reason, p_actor);
    END IF;
    RETURN dtx_snapshot(p_gid);
  END
  $fn$`,

  // SKIP LOCKED: a row another instance is working on (a decision, a round, a claim in flight) is not
  // waited for: that claim fails at once, and the transaction is due again later if it still is.
  `CREATE FUNCTION dtx_claim(p_gid text, p_owner text, p_now bigint, p_lease_until bigint)
    RETURNS json LANGUAGE plpgsql VOLATILE AS $fn$
  BEGIN
    UPDATE ${TABLES.global} SET lease_owner = p_owner, lease_until = p_lease_until, next_retry_at = p_lease_until
    WHERE gid = (
      SELECT gid FROM ${TABLES.global}
      WHERE gid = p_gid AND NOT paused AND status IN ${OPEN} AND next_retry_at <= p_now AND (lease_until IS NULL OR lease_until <= p_now)
      FOR NO KEY UPDATE SKIP LOCKED);
    IF NOT FOUND THEN
      RETURN NULL;
    END IF;
    RETURN dtx_snapshot(p_gid);
  END
  $fn$`,
];
