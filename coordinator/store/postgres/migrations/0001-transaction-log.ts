/**
 * The transaction log on PostgreSQL: global transactions, their branches, an
 * append-only event history and the operators' audit log, in PostgreSQL's
 * own types rather than MySQL's translated.
 *
 * - Times are epoch milliseconds in `bigint`, free of time-zone settings.
 * - Text is `text` (the store clips what it clips on every log); ids
 *   (gid, branch_id, caller) are `COLLATE "C"`: compared and ordered byte
 *   for byte, so `ORDER-1` and `order-1` are two transactions, the admin list
 *   pages in byte order, and a gid prefix is a range of the primary key.
 * - A branch's `operations` are `json`, not `jsonb`: json keeps the text as
 *   given, so the operations keep their registration order (jsonb sorts
 *   keys). Lists and maps whose order does not matter (`joinable_by`,
 *   `depends_on`, `op_payloads`) are `jsonb`.
 * - Flags are `boolean`.
 * - The indexes of what only open or flagged rows need are partial
 *   (`WHERE next_retry_at IS NOT NULL`, `WHERE needs_attention`, …): they
 *   hold those rows only, however many finished rows the log keeps.
 */
import { TABLES } from '../tables.ts';

export const name = '0001-transaction-log';

export const statements: readonly string[] = [
  `CREATE TABLE ${TABLES.global} (
    gid text COLLATE "C" PRIMARY KEY,
    mode text NOT NULL,
    status text NOT NULL,
    reason text,
    caller text COLLATE "C",
    joinable_by jsonb,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    deadline_at bigint NOT NULL,
    decided_at bigint,
    decided_by text,
    finished_at bigint,
    retry_count integer NOT NULL DEFAULT 0,
    next_retry_at bigint,
    needs_attention boolean NOT NULL DEFAULT false,
    attention_reason text,
    paused boolean NOT NULL DEFAULT false,
    lease_owner text,
    lease_until bigint,
    check_url text,
    not_before bigint
  )`,
  // Recovery's poll (findDue): NULL once finished or paused, so only due-able rows are in it.
  `CREATE INDEX dtx_global_due ON ${TABLES.global} (next_retry_at) WHERE next_retry_at IS NOT NULL`,
  // The admin list's keyset orders, one per filter that leads it.
  `CREATE INDEX dtx_global_age ON ${TABLES.global} (created_at, gid)`,
  `CREATE INDEX dtx_global_status_age ON ${TABLES.global} (status, created_at, gid)`,
  `CREATE INDEX dtx_global_mode_age ON ${TABLES.global} (mode, created_at, gid)`,
  `CREATE INDEX dtx_global_attention_age ON ${TABLES.global} (created_at, gid) WHERE needs_attention`,
  `CREATE INDEX dtx_global_paused_age ON ${TABLES.global} (created_at, gid) WHERE paused`,
  // The metrics' open counts by mode and status read open rows only; "finished in the last hour" a range of the finished ones.
  `CREATE INDEX dtx_global_open ON ${TABLES.global} (status, mode) WHERE status IN ('open', 'committing', 'rolling-back')`,
  `CREATE INDEX dtx_global_finished ON ${TABLES.global} (finished_at, status, mode) WHERE finished_at IS NOT NULL`,

  `CREATE TABLE ${TABLES.branch} (
    gid text COLLATE "C" NOT NULL,
    branch_id text COLLATE "C" NOT NULL,
    seq smallint NOT NULL DEFAULT 0,
    operations json NOT NULL,
    participant text NOT NULL,
    payload text NOT NULL,
    op_payloads jsonb,
    depends_on jsonb,
    max_attempts integer,
    call_timeout_ms integer,
    status text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    registered_by text,
    done_at bigint,
    done_op text,
    done_attempt integer,
    done_http smallint,
    PRIMARY KEY (gid, branch_id)
  )`,
  `CREATE INDEX dtx_branch_participant_age ON ${TABLES.branch} (participant, created_at)`,

  `CREATE TABLE ${TABLES.event} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gid text COLLATE "C" NOT NULL,
    at bigint NOT NULL,
    kind text NOT NULL,
    branch_id text COLLATE "C",
    op text,
    from_status text,
    to_status text,
    outcome text,
    attempt integer,
    message text,
    actor text
  )`,
  `CREATE INDEX dtx_event_gid ON ${TABLES.event} (gid, id)`,
  // "Flagged in the last hour" reads attention events by time.
  `CREATE INDEX dtx_event_kind_at ON ${TABLES.event} (kind, at)`,

  `CREATE TABLE ${TABLES.audit} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at bigint NOT NULL,
    actor text NOT NULL,
    role text NOT NULL,
    action text NOT NULL,
    gid text COLLATE "C",
    branch_id text COLLATE "C",
    reason text NOT NULL,
    detail text
  )`,
  `CREATE INDEX dtx_audit_at ON ${TABLES.audit} (at)`,
  `CREATE INDEX dtx_audit_gid ON ${TABLES.audit} (gid, id)`,
];
