/**
 * Public API of the dtx wire protocol (`@dtx/protocol`): what the coordinator,
 * initiators and participants must agree on — branch ops and the status codes
 * of their outcomes, headers and id limits, call and webhook signatures, and
 * the retry policy and deadlines all three use, and XA branches' xids. No I/O beyond `node:crypto`.
 */
export * from './wire.ts';
export * from './modes.ts';
export * from './row-locks.ts';
export * from './signature.ts';
export * from './registration-proof.ts';
export * from './call-headers.ts';
export * from './webhook.ts';
export * from './retry.ts';
export * from './deadline.ts';
export * from './xa-xid.ts';
