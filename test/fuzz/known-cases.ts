/**
 * Cases every run starts with, before the generated ones: inputs known to
 * have reached a 500 (issue 7: URLs that match the schema's pattern but not
 * `new URL`, hosts longer than the participant column), and their
 * neighbours. They make even a short run fail on a coordinator that
 * answers them with a 500. Likewise, runs of spaces inside headers parsed
 * before authentication make the timing check (timing.ts) of even a short
 * run fail on a parser that backtracks on them. And every refusal of a
 * second caller acting on the first one's transactions, a call signed
 * with the other role's key, and a try or a prepare without the registration
 * proof of its branch for its caller, make even a short run fail where a
 * guard lets one through.
 */
import type { FuzzCase } from './fuzz-runner.ts';
import { RawJson, Repeat, type FuzzRequest } from './fuzz-request.ts';
import { unregisteredFirstOp } from './requests.ts';
import { NOT_OWNER, OUT_OF_SCOPE, rival } from './rival-requests.ts';

const api: [string, string][] = [
  ['authorization', 'Bearer {{API_TOKEN}}'],
  ['content-type', 'application/json'],
];

const branch = (confirmUrl: string, cancelUrl = '{{STUB}}/ok/cancel') => ({ branchId: 'b1', confirmUrl, cancelUrl });

function begin(label: string, branches: unknown[], refused = true): FuzzRequest {
  return {
    label: `v1 begin / known ${label}`,
    target: 'coordinator',
    method: 'POST',
    path: '/v1/transactions',
    headers: api,
    body: { kind: 'json', value: { gid: '{{NEWGID}}', branches } },
    ...(refused ? { expect: 'refused' as const } : {}),
  };
}

function register(label: string, branches: unknown[]): FuzzRequest {
  return {
    label: `v1 register / known ${label}`,
    target: 'coordinator',
    method: 'POST',
    path: '/v1/transactions/{{GID}}/branches',
    headers: api,
    body: { kind: 'json', value: { branches } },
    expect: 'refused',
  };
}

const longHost = `http://${'a'.repeat(300)}/confirm`;

/** As long a run as fits in Node's 16 KiB of headers with the rest of a request. */
const spaces = ' '.repeat(15_000);

/** A participant call of the transaction under test, signed with the other role's key: the coordinator's on a try, an initiator's on a confirm. */
function wrongRole(target: 'participant-fastify' | 'participant-node', op: 'try' | 'confirm', branchId: string): FuzzRequest {
  return {
    label: `participant ${target === 'participant-node' ? 'node' : 'fastify'} ${op} / known signed with the other role's key`,
    target,
    method: 'POST',
    path: `/dtx/account/${op}`,
    headers: [
      ['dtx-gid', '{{GID}}'],
      ['dtx-branch-id', branchId],
      ['dtx-op', op],
      ['dtx-timestamp', '{{NOW}}'],
      ['dtx-caller', '{{CALLER}}'],
      ['content-type', 'application/json'],
    ],
    body: { kind: 'json', value: { amount: 1 } },
    sign: { key: 'wrong-role' },
    expect: 'unauthenticated',
  };
}

const stubBranch = { branchId: 'r9', confirmUrl: '{{STUB}}/ok/rival/confirm', cancelUrl: '{{STUB}}/ok/rival/cancel', payload: { rival: true } };
const stubStep = { id: 's1', action: { url: '{{STUB}}/ok/rival/action', payload: { rival: true } }, compensate: { url: '{{STUB}}/ok/rival/compensate' } };
const message = (checkUrl: string, receiverUrl: string) => ({ gid: '{{GID}}', checkUrl, branches: [{ id: 'r1', url: receiverUrl, payload: { rival: true } }] });

/** Every refusal of the second caller once, and both wrong-role signatures: even a short run must see each. */
const KNOWN_CROSS_CALLER: FuzzCase[] = [
  { subject: 'trying', request: rival("submit / known another's", '/v1/transactions/{{GID}}/submit', { waitMs: 0 }, NOT_OWNER) },
  { subject: 'tried', request: rival("abort / known another's", '/v1/transactions/{{GID}}/abort', { waitMs: 0 }, NOT_OWNER) },
  { subject: 'message', request: rival("abort / known another's prepared message", '/v1/transactions/{{GID}}/abort', { waitMs: 0 }, NOT_OWNER) },
  { subject: 'trying', request: rival("register / known in another's", '/v1/transactions/{{GID}}/branches', { branches: [stubBranch] }, NOT_OWNER) },
  { subject: 'tried', request: rival("begin / known another's gid", '/v1/transactions', { gid: '{{GID}}', mode: 'tcc', branches: [stubBranch] }, NOT_OWNER) },
  { subject: 'saga', request: rival("saga / known another's gid", '/v1/sagas', { gid: '{{GID}}', waitMs: 0, steps: [stubStep] }, NOT_OWNER) },
  {
    subject: 'message',
    request: rival("message / known another's gid", '/v1/messages', message('{{STUB}}/ok/rival/check', '{{STUB}}/ok/rival/deliver'), NOT_OWNER),
  },
  {
    subject: 'trying',
    request: rival(
      'register / known out of scope',
      '/v1/transactions/{{GID}}/branches',
      { branches: [{ ...stubBranch, confirmUrl: '{{P_FASTIFY}}/confirm', cancelUrl: '{{P_FASTIFY}}/cancel' }] },
      OUT_OF_SCOPE,
    ),
  },
  {
    subject: 'none',
    request: rival('saga / known out of scope', '/v1/sagas', { gid: '{{GID}}', steps: [{ ...stubStep, action: { url: '{{P_NODE}}/action' } }] }, OUT_OF_SCOPE),
  },
  {
    subject: 'none',
    request: rival('message / known receiver out of scope', '/v1/messages', message('{{STUB}}/ok/rival/check', '{{P_NODE}}/deliver'), OUT_OF_SCOPE),
  },
  {
    subject: 'none',
    request: rival('message / known check-back out of scope', '/v1/messages', message('{{P_FASTIFY}}/check', '{{STUB}}/ok/rival/deliver'), OUT_OF_SCOPE),
  },
  { subject: 'none', request: rival('begin / known mode out of scope', '/v1/transactions', { gid: '{{GID}}', mode: 'xa' }, OUT_OF_SCOPE) },
  { subject: 'tried', request: wrongRole('participant-fastify', 'try', 'b9') },
  { subject: 'tried', request: wrongRole('participant-node', 'confirm', 'b2') },
];

/**
 * A first op without the coordinator's proof of its branch for its caller: none, another branch's,
 * another caller's — on a branch the transaction under test registered (and tried: b1 at the Fastify
 * host, b2 at the node one), and on one the coordinator never heard of; and the same as XA prepares.
 */
const KNOWN_UNREGISTERED: FuzzCase[] = [
  { subject: 'tried', request: unregisteredFirstOp('participant-fastify', 'try', '{{GID}}', 'b1', 'none') },
  { subject: 'tried', request: unregisteredFirstOp('participant-node', 'try', '{{GID}}', 'b2', 'other-branch') },
  { subject: 'tried', request: unregisteredFirstOp('participant-fastify', 'try', '{{GID}}', 'b1', 'other-caller') },
  { subject: 'none', request: unregisteredFirstOp('participant-node', 'try', '{{NEWGID}}', 'b9', 'none') },
  { subject: 'trying', request: unregisteredFirstOp('participant-node', 'prepare', '{{GID}}', 'b1', 'none') },
  { subject: 'trying', request: unregisteredFirstOp('participant-fastify', 'prepare', '{{GID}}', 'b2', 'other-branch') },
  { subject: 'trying', request: unregisteredFirstOp('participant-node', 'prepare', '{{GID}}', 'b1', 'other-caller') },
];

export const KNOWN_CASES: FuzzCase[] = [
  ...KNOWN_CROSS_CALLER,
  ...KNOWN_UNREGISTERED,
  { subject: 'none', request: begin('http://[', [branch('http://[')]) },
  { subject: 'none', request: begin('cancelUrl https://[', [branch('{{STUB}}/ok/confirm', 'https://[')]) },
  { subject: 'none', request: begin('port 99999', [branch('http://127.0.0.1:99999/confirm')]) },
  { subject: 'none', request: begin('port 65536', [branch('http://127.0.0.1:65536/confirm')]) },
  { subject: 'none', request: begin('host longer than 255', [branch(longHost)]) },
  { subject: 'none', request: begin('forbidden host code point', [branch('http://a<b/confirm')]) },
  { subject: 'trying', request: register('http://[', [branch('http://[')]) },
  { subject: 'trying', request: register('port 99999', [{ ...branch('{{STUB}}/ok/c', 'http://127.0.0.1:99999/x'), branchId: 'b7' }]) },
  { subject: 'trying', request: register('host longer than 255', [{ ...branch(longHost), branchId: 'b8' }]) },
  {
    subject: 'none',
    request: begin('deeply nested payload', [{ ...branch('{{STUB}}/ok/c'), payload: new RawJson(new Repeat('[', 100_000), new Repeat(']', 100_000)) }], false),
  },
  {
    subject: 'trying',
    request: {
      label: 'admin force-abort / known longest reason',
      target: 'coordinator',
      method: 'POST',
      path: '/admin/v1/transactions/{{GID}}/force-abort',
      headers: [
        ['authorization', 'Bearer {{OPERATOR_TOKEN}}'],
        ['content-type', 'application/json'],
      ],
      body: { kind: 'json', value: { reason: `known ${'ü'.repeat(994)}` } },
    },
  },
  {
    subject: 'trying',
    request: {
      label: 'v1 view / known run of spaces inside the authorization',
      target: 'coordinator',
      method: 'GET',
      path: '/v1/transactions/{{GID}}',
      headers: [['authorization', `Bearer x${spaces}y`]],
      expect: 'api-unauthenticated',
    },
  },
  {
    subject: 'none',
    request: {
      label: 'v1 begin / known run of spaces inside the content-type',
      target: 'coordinator',
      method: 'POST',
      path: '/v1/transactions',
      headers: [
        ['authorization', 'Bearer {{API_TOKEN}}'],
        ['content-type', `application/json;${spaces}charset=utf-8`],
      ],
      body: { kind: 'json', value: { gid: '{{NEWGID}}', fuzz: 1 } },
      expect: 'refused',
    },
  },
  {
    subject: 'none',
    request: {
      label: 'v1 begin / known unauthenticated',
      target: 'coordinator',
      method: 'POST',
      path: '/v1/transactions',
      headers: [['content-type', 'application/json']],
      body: { kind: 'json', value: { gid: '{{NEWGID}}' } },
      expect: 'api-unauthenticated',
    },
  },
];
