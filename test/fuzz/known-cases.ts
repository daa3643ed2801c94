/**
 * Cases every run starts with, before the generated ones: inputs known to
 * have reached a 500 (issue 7: URLs that match the schema's pattern but not
 * `new URL`, hosts longer than the participant column), and their
 * neighbours. They make even a short run fail on a coordinator that
 * answers them with a 500.
 */
import type { FuzzCase } from './fuzz-runner.ts';
import { RawJson, Repeat, type FuzzRequest } from './fuzz-request.ts';

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

export const KNOWN_CASES: FuzzCase[] = [
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
