/**
 * The headers of one dtx call to a participant, signed: the one place that
 * builds them, for the coordinator's phase-two calls, the initiator's tries
 * and anything else (tools, tests) that calls a participant directly.
 */
import { sign, signedTarget } from './signature.ts';
import { HEADERS, type BranchOp } from './wire.ts';

/** One call to a participant, as {@link callHeaders} signs it. */
export interface OutgoingCall {
  /** The participant URL the call is POSTed to (`.../<resource>/<op>`). */
  url: string | URL;
  /** The global transaction's id. */
  gid: string;
  /** The branch's id. */
  branchId: string;
  /** The op asked. */
  op: BranchOp;
  /** The exact body bytes. */
  body: string;
  /** Epoch milliseconds. */
  timestamp: number;
  /** Base URL of the coordinator, for participants that join the transaction; omitted when absent. */
  coordinator?: string;
  /** The service the call acts for (`dtx-caller`); omitted when absent (an anonymous caller, development only). */
  caller?: string;
  /** A try's or a prepare's registration proof (`dtx-registration`), from the coordinator's reply to its registration. */
  registration?: string;
}

/**
 * Headers for `call`: content type, the dtx context and, given a key, the
 * signature. The one place that builds them, so that every caller of a
 * participant (coordinator, initiator, tools) signs the same way.
 *
 * @param key - the key the participant accepts from this signer for this op (see docs/security.md); null sends the call unsigned
 * @param call - the call to describe
 * @returns header names (lower case) and values
 *
 * @example
 * ```ts
 * import { callHeaders } from '@dtx/protocol';
 *
 * declare const proofs: Record<string, string>;   // the `proofs` of the begin's (or registration's) reply
 * const body = JSON.stringify({ account: 'alice', amount: 30 });
 * const url = 'http://bank-a:4001/dtx/debit/try';
 * // A try, as the initiator `orders` sends it: signed with its own key at bank-a, with the
 * // registration proof the coordinator answered its registration of branch 01 with.
 * const registration = proofs['01'];
 * const headers = callHeaders(process.env.ORDERS_KEY_AT_BANK_A ?? null, { url, gid: 'order-42', branchId: '01', op: 'try', body, timestamp: Date.now(), caller: 'orders', registration });
 * const reply = await fetch(url, { method: 'POST', headers, body });
 * ```
 */
export function callHeaders(key: string | null, call: OutgoingCall): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    [HEADERS.gid]: call.gid,
    [HEADERS.branchId]: call.branchId,
    [HEADERS.op]: call.op,
    [HEADERS.timestamp]: String(call.timestamp),
  };
  if (call.coordinator !== undefined) headers[HEADERS.coordinator] = call.coordinator;
  if (call.caller !== undefined) headers[HEADERS.caller] = call.caller;
  if (call.registration !== undefined) headers[HEADERS.registration] = call.registration;
  if (key !== null) {
    headers[HEADERS.signature] = sign(key, {
      method: 'POST',
      ...signedTarget(call.url),
      gid: call.gid,
      branchId: call.branchId,
      op: call.op,
      timestamp: call.timestamp,
      coordinator: call.coordinator ?? '',
      caller: call.caller ?? '',
      body: call.body,
    });
  }
  return headers;
}
