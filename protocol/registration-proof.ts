/**
 * Registration proofs: the coordinator's word that a branch is registered,
 * for the caller that registered it, handed to that caller with the
 * registration's reply and passed on by it with the branch's try (or
 * prepare) in the `dtx-registration` header.
 *
 * Why: an initiator calls a branch's first op itself, so without a proof a
 * participant would run a try for a branch the coordinator never heard of
 * (no phase two would ever confirm or cancel it: a reservation left for
 * good), or a try of another caller's branch (its own payload under that
 * branch, which the owner's confirm would then take for its own). With it, a
 * participant runs a try only for a branch the coordinator will drive to its
 * end, and only for the caller that registered it.
 *
 * The proof is an HMAC keyed with the coordinator's key for the participant
 * (the key that signs its calls there, which no initiator holds):
 *
 * ```
 * proof = "v1=" + hex(hmac_sha256(utf8(key), utf8("dtx-registration" LF gid LF branch-id LF caller)))
 * ```
 * docs/protocol.md works one example through; a unit test checks it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Version prefix of registration proofs (`v1=<hex>`). */
export const REGISTRATION_PROOF_VERSION = 'v1';

/** What a registration proof covers: the branch, and the caller that registered it ('' when anonymous, development only). */
export interface RegisteredBranch {
  gid: string;
  branchId: string;
  caller: string;
}

/** The exact string that is signed (exported for the protocol's worked example and its test). */
export function canonicalRegistration(branch: RegisteredBranch): string {
  return ['dtx-registration', branch.gid, branch.branchId, branch.caller].join('\n');
}

/**
 * The proof the coordinator hands the registering caller for `branch`.
 *
 * @param key - the coordinator's key for the branch's participant
 * @param branch - the branch and the caller that registered it
 * @returns `v1=` followed by the lower-case hex HMAC-SHA256
 */
export function registrationProof(key: string, branch: RegisteredBranch): string {
  return `${REGISTRATION_PROOF_VERSION}=${createHmac('sha256', key).update(canonicalRegistration(branch)).digest('hex')}`;
}

/**
 * Whether `proof` (the `dtx-registration` header) is the coordinator's for
 * `branch`. Constant-time.
 *
 * @param key - the coordinator's key for this participant
 * @param branch - the call's gid, branch id and (authenticated) caller
 * @param proof - the header, if any
 */
export function verifyRegistrationProof(key: string, branch: RegisteredBranch, proof: string | undefined): boolean {
  if (!proof) return false;
  const expected = Buffer.from(registrationProof(key, branch));
  const given = Buffer.from(proof);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
