/**
 * docs/participant-openapi.yaml, the participant side of the protocol as an
 * OpenAPI 3 document: valid, and in step with the code — the ops, the dtx
 * headers, the reply statuses and every `{code}` the SDK can answer, each
 * under the status it is answered with.
 *
 * The codes are read from the SDK itself: the literal `errorReply(status,
 * 'CODE')` / `refuse(status, 'CODE')` call sites in participant-sdk/, the
 * replies built as `{ statusCode, body: { code, … } }`, the codes the SDK
 * throws as `new BranchRejectedError(…, { code })` (answered 409), and, for
 * the replies whose code is not a literal there, by running replyOfResult /
 * replyOfError or building the errors they answer. A reply site of a new
 * shape fails the test until it is covered here and documented.
 */
import SwaggerParser from '@apidevtools/swagger-parser';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { REFUSAL_REPLIES, replyOfCheckBack, replyOfError, replyOfResult, replyOfXa } from '../../participant-sdk/branch-reply.ts';
import type { BarrierRefusal } from '../../participant-sdk/barrier/barrier.ts';
import { BarrierInputError, BranchOngoingError, BranchRejectedError, SignatureError, type SignatureFailure } from '../../participant-sdk/errors.ts';
import { FmtLockConflictError, FmtTooManyRowsError, FmtUnsupportedStatementError } from '../../participant-sdk/fmt/errors.ts';
import { FmtDirtyWriteError } from '../../participant-sdk/fmt/fmt-branch.ts';
import { RESOURCE_OPS } from '../../participant-sdk/resource.ts';
import { BRANCH_OPS, HEADERS, ID_PATTERN, LIMITS, REPLY_STATUS } from '../../protocol/wire.ts';
import { sectionOf } from '../support/doc-tables.ts';

const DOCUMENT = fileURLToPath(new URL('../../docs/participant-openapi.yaml', import.meta.url));
const PROTOCOL_DOC = fileURLToPath(new URL('../../docs/protocol.md', import.meta.url));
const SDK = fileURLToPath(new URL('../../participant-sdk/', import.meta.url));
const PROTOCOL = fileURLToPath(new URL('../../protocol/', import.meta.url));

interface Schema {
  type?: string;
  enum?: unknown[];
  pattern?: string;
  maxLength?: number;
  required?: string[];
  properties?: Record<string, Schema>;
  oneOf?: Schema[];
}
interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema: Schema;
}
interface Reply {
  content?: Record<string, { schema: Schema; examples?: Record<string, { value: unknown }> }>;
}
interface Operation {
  parameters: Parameter[];
  requestBody: { required?: boolean; content: Record<string, unknown> };
  responses: Record<string, Reply>;
  security?: Record<string, string[]>[];
}
interface Document {
  openapi: string;
  security?: Record<string, string[]>[];
  paths: Record<string, { post?: Operation }>;
  components: { securitySchemes: Record<string, { type: string; in?: string; name?: string }>; schemas: Record<string, Schema> };
}

/** A reply the SDK can send: status and code. */
interface AnsweredCode {
  status: number;
  code: string;
  where: string;
}

function sdkSources(dir: string): { file: string; text: string }[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sdkSources(path);
    return entry.name.endsWith('.ts') ? [{ file: path.slice(SDK.length), text: readFileSync(path, 'utf8') }] : [];
  });
}

/**
 * The reply call sites whose code is not a literal, each covered below by
 * running the function that fills it in (the key is the call with its first
 * two arguments, whitespace removed).
 */
const COMPUTED_REPLY_SITES: Record<string, string> = {
  'incoming-call.ts errorReply(statusCode,code': 'the generic refuse() of decodeCall, whose callers are literal sites',
  'branch-reply.ts errorReply(REPLY_STATUS.failure,REFUSAL_REPLIES[result.refusal].code': 'barrier refusals: every REFUSAL_REPLIES entry',
  'branch-reply.ts errorReply(REPLY_STATUS.failure,error.code': 'BranchRejectedError',
  'branch-reply.ts errorReply(REPLY_STATUS.ongoing,error.code': 'BranchOngoingError',
  'branch-reply.ts errorReply(401,error.code': 'SignatureError, for every reason',
  'branch-reply.ts errorReply(400,error.code': 'BarrierInputError',
  'fmt-branch.ts {statusCode:REPLY_STATUS.failure,body:{code:error.code':
    "FMT's refusals: FmtDirtyWriteError, FmtLockConflictError, FmtUnsupportedStatementError, FmtTooManyRowsError",
  "coordinator-locks.ts BranchRejectedError(code:reply.code??'LOCKS_REFUSED'": "the coordinator's refusal of a row lock request, its code passed through",
};

/**
 * The codes the coordinator refuses a row lock request with (coordinator/api/row-lock-routes.ts,
 * engine/row-lock-service.ts), which an FMT execute passes through as its own 409.
 */
const ROW_LOCK_REFUSALS = ['INVALID_REQUEST', 'UNSUPPORTED_MODE', 'BAD_SIGNATURE', 'NOT_FOUND', 'ILLEGAL_STATE', 'DEADLINE_PASSED', 'NOT_REGISTERED'];

/** The text of the arguments of the call whose opening parenthesis is at `open` (parentheses counted, strings not parsed). */
function callArguments(text: string, open: number): string {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) return text.slice(open + 1, i);
  }
  return text.slice(open + 1);
}

/** Whether `refuse` in this file is a reply function (its first parameter a status), not a local helper of another kind. */
function refuseIsReply(text: string): boolean {
  const definitions = [...text.matchAll(/\b(?:const|function)\s+refuse\s*=?\s*(?:\(|async\s*\()\s*\w+\s*:\s*(\w+)/g)];
  return definitions.every((definition) => definition[1] === 'number');
}

/** Every (status, code) the participant SDK can answer, read from its source and its reply functions. */
function answeredCodes(): { answered: AnsweredCode[]; uncovered: string[]; computed: string[] } {
  const answered: AnsweredCode[] = [];
  const uncovered: string[] = [];
  const computed: string[] = [];
  const fromReply = (reply: { statusCode: number; body: unknown }, where: string) =>
    answered.push({ status: reply.statusCode, code: (reply.body as { code: string }).code, where });
  const statusOf = (expression: string): number | null => {
    if (/^\d{3}$/.test(expression)) return Number(expression);
    const named = /^REPLY_STATUS\.(\w+)$/.exec(expression);
    return named ? ((REPLY_STATUS as Record<string, number>)[named[1]!] ?? null) : null;
  };
  const literalCode = (expression: string) => /^'([A-Z][A-Z0-9_]*)'$/.exec(expression)?.[1];
  const site = (key: string) => (key in COMPUTED_REPLY_SITES ? computed : uncovered).push(key);
  for (const { file, text } of sdkSources(SDK)) {
    const name = file.split('/').pop();
    const replyFunctions = refuseIsReply(text) ? 'errorReply|refuse' : 'errorReply';
    for (const call of text.matchAll(new RegExp(`(?<!function )\\b(${replyFunctions})\\(\\s*([^,()]+?)\\s*,\\s*([^,]+?)\\s*,`, 'g'))) {
      const [, fn, first, second] = call as unknown as [string, string, string, string];
      const code = literalCode(second);
      const status = statusOf(first);
      if (code && status !== null) {
        answered.push({ status, code, where: file });
        continue;
      }
      site(`${name} ${fn}(${first.replace(/\s+/g, '')},${second.replace(/\s+/g, '')}`);
    }
    // A reply built as an object literal.
    for (const reply of text.matchAll(/\bstatusCode:\s*([^,{}]+?)\s*,\s*body:\s*\{\s*code:\s*([^,{}]+?)\s*[,}]/g)) {
      const [, first, second] = reply as unknown as [string, string, string];
      const code = literalCode(second);
      const status = statusOf(first);
      if (code && status !== null) answered.push({ status, code, where: file });
      else site(`${name} {statusCode:${first.replace(/\s+/g, '')},body:{code:${second.replace(/\s+/g, '')}`);
    }
    // A code the SDK throws as a BranchRejectedError (answered as replyOfError answers it); examples in comments are no reply.
    const uncommented = text.replace(/\/\*[\s\S]*?\*\//g, '');
    for (const thrown of uncommented.matchAll(/\bnew BranchRejectedError\(/g)) {
      const given = /\bcode:\s*([^,{}]+?)\s*[,}]/.exec(callArguments(uncommented, thrown.index + thrown[0].length - 1))?.[1];
      if (given === undefined) continue; // REJECTED, covered below
      const literal = literalCode(given);
      if (literal) fromReply(replyOfError(new BranchRejectedError('x', { code: literal })), file);
      else site(`${name} BranchRejectedError(code:${given.replace(/\s+/g, '')}`);
    }
  }

  for (const refusal of Object.keys(REFUSAL_REPLIES) as BarrierRefusal[]) fromReply(replyOfResult({ kind: 'refused', refusal }), `REFUSAL_REPLIES.${refusal}`);
  fromReply(replyOfResult({ kind: 'suspended' }), 'suspended');
  fromReply(replyOfError(new BranchRejectedError('no')), 'BranchRejectedError');
  fromReply(replyOfError(new BranchOngoingError()), 'BranchOngoingError');
  fromReply(replyOfError(new BarrierInputError('gid', 'x', 'why')), 'BarrierInputError');
  fromReply(replyOfError(new Error('boom')), 'any other error');
  for (const reason of signatureReasons()) fromReply(replyOfError(new SignatureError(reason)), `SignatureError(${reason})`);
  const key = { resource: 'bank-a', table: 'bank.accounts', pk: ['alice'] };
  for (const error of [
    new FmtDirtyWriteError([]),
    new FmtLockConflictError('order-1000', key),
    new FmtUnsupportedStatementError('ddl', 'drop table accounts', 'DROP'),
    new FmtTooManyRowsError('bank.accounts', 1001, 1000),
  ]) {
    answered.push({ status: REPLY_STATUS.failure, code: error.code, where: error.name });
  }
  for (const code of ['LOCKS_REFUSED', ...ROW_LOCK_REFUSALS]) fromReply(replyOfError(new BranchRejectedError('x', { code })), `row lock refusal ${code}`);
  return { answered, uncovered, computed };
}

/** The reasons a signature is refused for: those verify() gives (signature.ts), and the SDK's choice of key (call-keys.ts). */
function signatureReasons(): SignatureFailure[] {
  const text = readFileSync(join(PROTOCOL, 'signature.ts'), 'utf8') + readFileSync(join(SDK, 'call-keys.ts'), 'utf8');
  return [...new Set([...text.matchAll(/reason: '([\w-]+)'/g)].map((m) => m[1] as SignatureFailure))];
}

/** The TCC ops share one templated path; each saga, message, XA and FMT op has its own (XA and FMT share commit and rollback). */
const TCC_PATH = '/{resource}/{op}';
const SAGA_PATHS = RESOURCE_OPS.saga.map((op) => `/{resource}/${op}`);
const MSG_OPS = [...RESOURCE_OPS.msg, ...RESOURCE_OPS['msg-sender']];
const MSG_PATHS = MSG_OPS.map((op) => `/{resource}/${op}`);
const XA_PATHS = RESOURCE_OPS.xa.map((op) => `/{resource}/${op}`);
const FMT_PATHS = RESOURCE_OPS.fmt.map((op) => `/{resource}/${op}`).filter((path) => !XA_PATHS.includes(path));
/** Every path but the TCC one: one op each. */
const SINGLE_OP_PATHS = [...SAGA_PATHS, ...MSG_PATHS, ...XA_PATHS, ...FMT_PATHS];
const ALL_PATHS = [TCC_PATH, ...SINGLE_OP_PATHS];

/** The success bodies the SDK sends on each path. */
function successBodies(path: string) {
  const ran = [replyOfResult({ kind: 'ran', value: undefined }), replyOfResult({ kind: 'duplicate' })];
  if (path === '/{resource}/deliver') return ran;
  if (path === '/{resource}/check') return [replyOfCheckBack('committed')];
  if (path === '/{resource}/prepare') return [replyOfXa({ kind: 'prepared', value: { id: 7 } }), replyOfXa({ kind: 'duplicate' })];
  // An FMT execute, commit and rollback are answered as the barrier's try, confirm and cancel: a rollback's result is `{restored}`.
  if (path === '/{resource}/execute') return [replyOfResult({ kind: 'ran', value: { id: 7 } }), ...ran];
  if (path === '/{resource}/commit') return [replyOfXa({ kind: 'committed' }), replyOfXa({ kind: 'duplicate' }), ...ran];
  if (path === '/{resource}/rollback')
    return [
      replyOfXa({ kind: 'rolled-back' }),
      replyOfXa({ kind: 'duplicate' }),
      replyOfXa({ kind: 'null-rollback' }),
      replyOfResult({ kind: 'ran', value: { restored: 2 } }),
      ...ran,
      replyOfResult({ kind: 'null-compensation' }),
    ];
  return [replyOfResult({ kind: 'ran', value: { id: 7 } }), ...ran, replyOfResult({ kind: 'null-compensation' })];
}

describe('docs/participant-openapi.yaml', () => {
  let document: Document;
  /** Every operation of the document, by path. */
  let operations: Array<[string, Operation]>;

  beforeAll(async () => {
    document = (await SwaggerParser.dereference(DOCUMENT)) as unknown as Document;
    operations = Object.entries(document.paths).map(([path, item]) => [path, item.post!]);
  });

  it('is a valid OpenAPI 3 document', async () => {
    // Throws with the list of problems if the document breaks the OpenAPI 3 schema.
    await expect(SwaggerParser.validate(DOCUMENT)).resolves.toBeTruthy();
    expect(document.openapi).toMatch(/^3\./);
    expect(Object.keys(document.paths)).toEqual(ALL_PATHS);
    expect(operations.every(([, operation]) => operation !== undefined)).toBe(true);
  });

  it('names the ops of each mode, in the path and in dtx-op; together, every op of the protocol', () => {
    const tcc = document.paths[TCC_PATH]!.post!;
    expect(tcc.parameters.find((p) => p.in === 'path' && p.name === 'op')?.schema.enum).toEqual([...RESOURCE_OPS.tcc]);
    expect(tcc.parameters.find((p) => p.name === HEADERS.op)?.schema.enum).toEqual([...RESOURCE_OPS.tcc]);
    for (const op of new Set([...RESOURCE_OPS.saga, ...MSG_OPS, ...RESOURCE_OPS.xa, ...RESOURCE_OPS.fmt])) {
      const single = document.paths[`/{resource}/${op}`]!.post!;
      expect(single.parameters.filter((p) => p.in === 'path').map((p) => p.name)).toEqual(['resource']);
      expect(single.parameters.find((p) => p.name === HEADERS.op)?.schema.enum).toEqual([op]);
    }
    expect([...new Set(Object.values(RESOURCE_OPS).flat())].sort()).toEqual([...BRANCH_OPS].sort());
  });

  it('lists every op of the protocol, in its order, as BranchOp', () => {
    expect(document.components.schemas['BranchOp']?.enum).toEqual([...BRANCH_OPS]);
  });

  it.each(ALL_PATHS)('%s has exactly the dtx headers, the signature as the security scheme', (path) => {
    const operation = document.paths[path]!.post!;
    const headers = operation.parameters.filter((p) => p.in === 'header').map((p) => p.name);
    const schemes = (operation.security ?? document.security ?? []).flatMap((requirement) => Object.keys(requirement));
    expect(schemes).toHaveLength(1);
    const scheme = document.components.securitySchemes[schemes[0]!]!;
    expect(scheme).toMatchObject({ type: 'apiKey', in: 'header', name: HEADERS.signature });
    expect([...headers, scheme.name].sort()).toEqual(Object.values(HEADERS).sort());
    // What the SDK's decodeCall requires; dtx-coordinator is sent with try only.
    const required = operation.parameters
      .filter((p) => p.in === 'header' && p.required)
      .map((p) => p.name)
      .sort();
    expect(required).toEqual([HEADERS.gid, HEADERS.branchId, HEADERS.op, HEADERS.timestamp].sort());
  });

  it.each(ALL_PATHS)('%s bounds the ids as the SDK does', (path) => {
    const operation = document.paths[path]!.post!;
    const header = (name: string) => operation.parameters.find((p) => p.name === name)!.schema;
    expect(header(HEADERS.gid)).toMatchObject({ pattern: ID_PATTERN, maxLength: LIMITS.gidMaxLength });
    expect(header(HEADERS.branchId)).toMatchObject({ pattern: ID_PATTERN, maxLength: LIMITS.branchIdMaxLength });
  });

  it.each(ALL_PATHS)('%s takes the raw JSON body', (path) => {
    const operation = document.paths[path]!.post!;
    expect(operation.requestBody.required).toBe(true);
    expect(Object.keys(operation.requestBody.content)).toEqual(['application/json']);
  });

  it.each(ALL_PATHS)('%s covers every reply status of the protocol and of the SDK', (path) => {
    const statuses = Object.keys(document.paths[path]!.post!.responses);
    const expected = [...Object.values(REPLY_STATUS), 400, 401, 404, 405, 413, 500, ...answeredCodes().answered.map((a) => a.status)];
    for (const status of new Set(expected)) expect(statuses, `status ${status}`).toContain(String(status));
    expect(statuses).toContain('default');
  });

  it('documents every code the SDK can answer, under its status, as {code, message}', () => {
    const { answered, uncovered, computed } = answeredCodes();
    // A reply whose code this test cannot see: cover it in COMPUTED_REPLY_SITES (and document its codes).
    expect(uncovered).toEqual([]);
    // Each computed site still exists (else the list is stale and may hide a change).
    expect([...new Set(computed)].sort()).toEqual(Object.keys(COMPUTED_REPLY_SITES).sort());
    // The source scan itself works: it finds the codes of the route, header, body and size checks.
    expect(answered.map((a) => a.code)).toEqual(
      expect.arrayContaining(['METHOD_NOT_ALLOWED', 'UNKNOWN_OP', 'MISSING_HEADER', 'BAD_JSON', 'BODY_TOO_LARGE', 'SUSPENDED']),
    );
    expect(signatureReasons().length).toBeGreaterThanOrEqual(4);
    // Each code under its status in at least one operation (a code of TCC's barrier refusals has no
    // place under a saga op), and every error reply shaped {code, message}.
    for (const { status, code, where } of answered) {
      const replies = operations.map(([, operation]) => operation.responses[String(status)]?.content?.['application/json']);
      const documented = replies.find((reply) => reply?.examples?.[code] !== undefined);
      expect(documented?.examples?.[code]?.value, `${code} (HTTP ${status}, ${where})`).toMatchObject({ code, message: expect.any(String) });
      for (const reply of replies) expect(reply?.schema.required, `HTTP ${status}`).toEqual(['code', 'message']);
    }
  });

  it.each(ALL_PATHS)('%s describes each success body the SDK sends', (path) => {
    const alternatives = document.paths[path]!.post!.responses['200']!.content!['application/json']!.schema.oneOf!;
    for (const reply of successBodies(path)) {
      expect(reply.statusCode).toBe(REPLY_STATUS.success);
      const body = reply.body as Record<string, unknown>;
      const fits = alternatives.filter((schema) => schema.required!.every((key) => key in body) && Object.keys(body).every((key) => key in schema.properties!));
      expect(fits, JSON.stringify(body)).toHaveLength(1);
    }
  });
});

describe('docs/protocol.md', () => {
  it('names every code the SDK can answer', () => {
    const doc = readFileSync(PROTOCOL_DOC, 'utf8');
    for (const { code, where } of answeredCodes().answered) expect(doc, `${code} (${where})`).toContain(`\`${code}\``);
  });

  it('names every op of the protocol, and no other, in the dtx-op row of the request headers', () => {
    const row = sectionOf(PROTOCOL_DOC, 'The request').find((line) => line.startsWith(`| \`${HEADERS.op}\` |`));
    const value = row?.split('|')[2] ?? '';
    expect([...value.matchAll(/`([^`]+)`/g)].map((m) => m[1])).toEqual([...BRANCH_OPS]);
  });
});
