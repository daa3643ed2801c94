/**
 * Generators of whole requests, route by route: the transaction API (/v1),
 * the admin API (/admin/v1), the participant endpoint (Fastify plugin and
 * node:http handler) and the rest of the coordinator — each mostly valid
 * with one thing wrong, or fully valid so that state-changing paths run.
 * transportAbuse() then breaks any of them below the application.
 */
import fc from 'fast-check';
import { SIGNATURE_VERSION } from '../../protocol/signature.ts';
import { LIMITS } from '../../protocol/wire.ts';
import {
  BODY_LENGTH_PLUS_50,
  Repeat,
  bodyLength,
  jsonText,
  type BodySpec,
  type Expectation,
  type FuzzRequest,
  type Refusal,
  type RegistrationSpec,
  type Target,
} from './fuzz-request.ts';
import { FUZZ_XA_RESOURCE } from './fuzz-world.ts';
import {
  INVALID_URLS,
  badInteger,
  invalidId,
  malformedJsonText,
  oddLoopbackUrl,
  oddText,
  okUrl,
  payload,
  percentEncode,
  validId,
  wrongTypeForString,
} from './values.ts';

/** One generated variant of a JSON body, and whether it breaks the contract. */
interface BodyVariant {
  variant: string;
  body: BodySpec | undefined;
  /** The body alone must make the request refused. */
  refused: boolean;
}

const JSON_TYPE: [string, string] = ['content-type', 'application/json'];
const codePoints = (s: string) => [...s].length;

// ---------------------------------------------------------------- shared parts

const validGidValue = fc.oneof(
  { weight: 6, arbitrary: fc.constant('{{NEWGID}}') },
  { weight: 2, arbitrary: fc.constant('{{GID}}') },
  { weight: 1, arbitrary: validId(LIMITS.gidMaxLength) },
);
// Mostly ids the transactions under test do not have yet (they hold b1 and b2), so that registering them succeeds.
const validBranchId = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('b3', 'b4', 'b5') },
  { weight: 1, arbitrary: fc.constantFrom('b1', 'b2') },
  { weight: 2, arbitrary: validId(LIMITS.branchIdMaxLength) },
);

/** A gid as a path segment: mostly the transaction under test, sometimes one that breaks the id rules. */
const pathGid: fc.Arbitrary<{ text: string; bad: boolean }> = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ text: '{{GID}}', bad: false }) },
  { weight: 3, arbitrary: fc.constant({ text: '{{NEWGID}}', bad: false }) },
  { weight: 2, arbitrary: invalidId(LIMITS.gidMaxLength).map((s) => ({ text: percentEncode(s), bad: true })) },
  // Raw bytes and broken escapes on the request line.
  {
    weight: 1,
    arbitrary: fc.constantFrom('%zz', '%', '%0', '%00', '%2F', 'a%2Fb', '%C3%28', '%FF', 'é', 'a'.repeat(400), '😀').map((text) => ({ text, bad: true })),
  },
);

const validTimeout = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom(6 * 3_600_000, 24 * 3_600_000, 12 * 3_600_000 + 1) },
  { weight: 1, arbitrary: fc.constantFrom(1, 20, 300) },
);

const validBranch = fc.record(
  { branchId: validBranchId, confirmUrl: okUrl, cancelUrl: okUrl, payload },
  { requiredKeys: ['branchId', 'confirmUrl', 'cancelUrl'] },
);

/** A branch with exactly one thing wrong. */
const badBranch: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(validBranch, fc.nat({ max: 8 }), invalidId(LIMITS.branchIdMaxLength), fc.constantFrom(...INVALID_URLS), wrongTypeForString)
  .map(([branch, which, badId, badUrl, wrong]) => {
    const b: Record<string, unknown> = { ...branch };
    switch (which) {
      case 0:
        b.branchId = badId;
        break;
      case 1:
      case 2:
        b.confirmUrl = badUrl;
        break;
      case 3:
      case 4:
        b.cancelUrl = badUrl;
        break;
      case 5:
        b[['branchId', 'confirmUrl', 'cancelUrl'][badId.length % 3]!] = wrong;
        break;
      case 6:
        delete b[['branchId', 'confirmUrl', 'cancelUrl'][badId.length % 3]!];
        break;
      case 7:
        b.url = '{{STUB}}/ok/x';
        break;
      default:
        b.tryUrl = badUrl;
    }
    return b;
  });

const json = (value: unknown): BodySpec => ({ kind: 'json', value });

/** Body variants that are not a valid JSON object at all. */
const notAnObject: fc.Arbitrary<BodyVariant> = fc.oneof(
  fc.constantFrom<unknown>([], 'text', 42, null, true, [{}]).map((value) => ({ variant: 'not-an-object', body: json(value), refused: true })),
  malformedJsonText('{"gid":"{{NEWGID}}","branches":[]}').map((text) => ({
    variant: 'malformed-json',
    body: { kind: 'text', parts: [text] } as BodySpec,
    refused: true,
  })),
  fc
    .constantFrom('c3ff', 'fffe7b007d00', 'efbbbf7b7d', '7b22676964223a22ff227d', '00')
    .map((hex) => ({ variant: 'bad-bytes', body: { kind: 'hex', hex } as BodySpec, refused: true })),
  fc
    .integer({ min: 1024 * 1024 + 1, max: 3 * 1024 * 1024 })
    .map((n) => ({ variant: 'over-1MiB', body: { kind: 'text', parts: ['{"gid":"', new Repeat('a', n), '"}'] } as BodySpec, refused: true })),
  fc.integer({ min: 10_000, max: 500_000 }).map((depth) => ({
    variant: 'deep-body',
    body: { kind: 'text', parts: [new Repeat('{"a":', depth), '1', new Repeat('}', depth)] } as BodySpec,
    refused: true,
  })),
);

/** Adds an unknown key (also prototype-polluting ones) to an object body. */
const withExtraKey = (value: Record<string, unknown>) =>
  fc.constantFrom('extra', '__proto__', 'constructor', 'prototype', '', 'GID', 'gid ').map((key): BodyVariant => {
    if (key === '__proto__')
      return {
        variant: 'extra-key',
        body: { kind: 'text', parts: [`${jsonText(value).slice(0, -1)}${Object.keys(value).length ? ',' : ''}"__proto__":{"x":1}}`] },
        refused: true,
      };
    return { variant: 'extra-key', body: json({ ...value, [key]: 1 }), refused: true };
  });

// ---------------------------------------------------------------- /v1

/** Authorization for /v1: mostly the test token, sometimes none or a wrong one (then 401 once authentication is on). */
const apiAuth: fc.Arbitrary<{ headers: [string, string][]; bad: boolean }> = fc.oneof(
  { weight: 24, arbitrary: fc.constant({ headers: [['authorization', 'Bearer {{API_TOKEN}}']] as [string, string][], bad: false }) },
  { weight: 1, arbitrary: fc.constant({ headers: [['authorization', 'bearer {{API_TOKEN}}']] as [string, string][], bad: false }) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom<[string, string][]>(
        [],
        [['authorization', 'Bearer not-a-valid-token-000000']],
        [['authorization', 'Bearer']],
        [['authorization', 'Bearer ']],
        [['authorization', '{{API_TOKEN}}']],
        [['authorization', 'Basic dGVzdHM6dGVzdHM=']],
        [['authorization', 'Bearer {{API_TOKEN}}x']],
        [['authorization', 'Bearer x{{API_TOKEN}}']],
        [['authorization', 'Bearer {{OPERATOR_TOKEN}}']],
        [['authorization', `Bearer ${'t'.repeat(6000)}`]],
        [['authorization', 'Bearer {{API_TOKEN}}é']],
        [['x-authorization', 'Bearer {{API_TOKEN}}']],
      )
      .map((headers) => ({ headers, bad: true })),
  },
);

function v1Request(
  label: string,
  method: string,
  path: string,
  auth: { headers: [string, string][]; bad: boolean },
  body: BodyVariant | undefined,
  contentType: [string, string] | null = JSON_TYPE,
): FuzzRequest {
  const headers: [string, string][] = [...auth.headers];
  if (body?.body && contentType) headers.push(contentType);
  const expect: Expectation | undefined = auth.bad ? 'api-unauthenticated' : body?.refused ? 'refused' : undefined;
  return {
    label: `v1 ${label}${body ? ` / ${body.variant}` : ''}`,
    target: 'coordinator',
    method,
    path,
    headers,
    ...(body?.body ? { body: body.body } : {}),
    ...(expect ? { expect } : {}),
  };
}

const beginBody: fc.Arbitrary<BodyVariant> = fc
  .record({ gid: validGidValue, mode: fc.constant('tcc'), timeoutMs: validTimeout, branches: fc.array(validBranch, { maxLength: 3 }) }, { requiredKeys: [] })
  .chain((valid) =>
    fc.oneof(
      { weight: 14, arbitrary: fc.constant<BodyVariant>({ variant: 'valid', body: json(valid), refused: false }) },
      { weight: 1, arbitrary: fc.constant<BodyVariant>({ variant: 'no-body', body: undefined, refused: false }) },
      { weight: 2, arbitrary: invalidId(LIMITS.gidMaxLength).map((gid) => ({ variant: 'bad-gid', body: json({ ...valid, gid }), refused: true })) },
      { weight: 1, arbitrary: wrongTypeForString.map((gid) => ({ variant: 'gid-type', body: json({ ...valid, gid }), refused: true })) },
      {
        weight: 1,
        arbitrary: fc
          .oneof(oddText, wrongTypeForString, fc.constantFrom('saga', 'msg', 'TCC', 'XA'))
          .filter((m) => m !== 'tcc')
          .map((mode) => ({ variant: 'bad-mode', body: json({ ...valid, mode }), refused: true })),
      },
      {
        weight: 2,
        arbitrary: badInteger(1, 24 * 3_600_000).map((timeoutMs) => ({ variant: 'bad-timeout', body: json({ ...valid, timeoutMs }), refused: true })),
      },
      {
        weight: 4,
        arbitrary: fc
          .tuple(fc.array(validBranch, { maxLength: 2 }), badBranch)
          .map(([good, bad]) => ({ variant: 'bad-branch', body: json({ ...valid, branches: [...good, bad] }), refused: true })),
      },
      {
        weight: 1,
        arbitrary: fc
          .oneof(
            wrongTypeForString.filter((v) => !Array.isArray(v)),
            fc.constant(Array.from({ length: 101 }, (_, i) => ({ branchId: `b${i}`, confirmUrl: '{{STUB}}/ok/c', cancelUrl: '{{STUB}}/ok/x' }))),
          )
          .map((branches) => ({ variant: 'bad-branches', body: json({ ...valid, branches }), refused: true })),
      },
      {
        weight: 1,
        arbitrary: oddLoopbackUrl.map((url) => ({
          variant: 'odd-url',
          body: json({ ...valid, branches: [{ branchId: 'b1', confirmUrl: url, cancelUrl: url }] }),
          refused: false,
        })),
      },
      { weight: 1, arbitrary: withExtraKey(valid) },
      { weight: 2, arbitrary: notAnObject },
    ),
  );

const registerBody: fc.Arbitrary<BodyVariant> = fc.array(validBranch, { minLength: 1, maxLength: 3 }).chain((branches) =>
  fc.oneof(
    { weight: 10, arbitrary: fc.constant<BodyVariant>({ variant: 'valid', body: json({ branches }), refused: false }) },
    { weight: 4, arbitrary: badBranch.map((bad) => ({ variant: 'bad-branch', body: json({ branches: [...branches.slice(0, 1), bad] }), refused: true })) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom<unknown>([], undefined, {}, 'b1', null)
        .map((b) => ({ variant: 'bad-branches', body: json(b === undefined ? {} : { branches: b }), refused: true })),
    },
    { weight: 1, arbitrary: fc.constant<BodyVariant>({ variant: 'no-body', body: undefined, refused: true }) },
    {
      weight: 1,
      arbitrary: oddLoopbackUrl.map((url) => ({
        variant: 'odd-url',
        body: json({ branches: [{ branchId: 'b9', confirmUrl: url, cancelUrl: url }] }),
        refused: false,
      })),
    },
    { weight: 1, arbitrary: withExtraKey({ branches }) },
    { weight: 2, arbitrary: notAnObject },
  ),
);

/** A saga: steps on the stub, in order or by a graph; then one thing wrong with it, or none. */
const sagaStep = (id: string, dependsOn?: string[]) => ({
  id,
  action: { url: '{{STUB}}/ok/action', payload: { id } },
  compensate: { url: '{{STUB}}/ok/compensate' },
  ...(dependsOn ? { dependsOn } : {}),
});
const sagaBody: fc.Arbitrary<BodyVariant> = fc
  .record({
    gid: validGidValue,
    timeoutMs: validTimeout,
    waitMs: fc.constantFrom(0, 50),
    steps: fc.constantFrom([sagaStep('s1'), sagaStep('s2')], [sagaStep('s1', []), sagaStep('s2', [])]),
  })
  .chain((valid) =>
    fc.oneof(
      { weight: 4, arbitrary: fc.constant<BodyVariant>({ variant: 'valid', body: json(valid), refused: false }) },
      { weight: 1, arbitrary: fc.constant<BodyVariant>({ variant: 'no-body', body: undefined, refused: true }) },
      {
        weight: 4,
        arbitrary: fc
          .tuple(fc.constantFrom(...INVALID_URLS), invalidId(LIMITS.branchIdMaxLength), wrongTypeForString)
          .chain(([badUrl, badId, wrong]) =>
            fc.constantFrom<unknown[]>(
              [],
              [sagaStep('s1'), sagaStep('s1')],
              [sagaStep('s1', ['nope'])],
              [sagaStep('s1', ['s2']), sagaStep('s2', ['s1'])],
              [sagaStep('s1', ['s1'])],
              [{ ...sagaStep('s1'), action: { url: badUrl } }],
              [{ ...sagaStep('s1'), id: badId }],
              [{ ...sagaStep('s1'), retryLimit: wrong }],
              [{ ...sagaStep('s1'), timeoutMs: 0 }],
              [{ ...sagaStep('s1'), compensate: wrong }],
              [{ ...sagaStep('s1'), confirmUrl: '{{STUB}}/ok/c' }],
              Array.from({ length: 101 }, (_, i) => sagaStep(`s${i}`)),
            ),
          )
          .map((steps) => ({ variant: 'bad-steps', body: json({ ...valid, steps }), refused: true })),
      },
      {
        weight: 1,
        arbitrary: badInteger(1, 24 * 3_600_000).map((timeoutMs) => ({ variant: 'bad-timeout', body: json({ ...valid, timeoutMs }), refused: true })),
      },
      { weight: 1, arbitrary: withExtraKey(valid) },
      { weight: 1, arbitrary: notAnObject },
    ),
  );

/** A transactional message: receivers on the stub and a check-back URL; then one thing wrong with it, or none. */
const messageBody: fc.Arbitrary<BodyVariant> = fc
  .record({
    gid: validGidValue,
    timeoutMs: validTimeout,
    checkUrl: fc.constant('{{STUB}}/ok/check'),
    branches: fc.constant([{ id: 'r1', url: '{{STUB}}/ok/deliver', payload: { n: 1 } }]),
  })
  .chain((valid) =>
    fc.oneof(
      { weight: 4, arbitrary: fc.constant<BodyVariant>({ variant: 'valid', body: json(valid), refused: false }) },
      {
        weight: 5,
        arbitrary: fc
          .tuple(fc.constantFrom(...INVALID_URLS), invalidId(LIMITS.branchIdMaxLength), wrongTypeForString)
          .chain(([badUrl, badId, wrong]) =>
            fc.constantFrom<Record<string, unknown>>(
              { checkUrl: undefined },
              { checkUrl: badUrl },
              { checkUrl: wrong },
              { deliverAt: 'tomorrow' },
              { deliverAt: wrong },
              { branches: [] },
              { branches: [{ id: 'sender', url: '{{STUB}}/ok/deliver' }] },
              { branches: [{ id: badId, url: '{{STUB}}/ok/deliver' }] },
              { branches: [{ id: 'r1', url: badUrl }] },
              {
                branches: [
                  { id: 'r1', url: '{{STUB}}/ok/deliver' },
                  { id: 'r1', url: '{{STUB}}/ok/deliver' },
                ],
              },
            ),
          )
          .map((change) => ({ variant: 'bad-message', body: json({ ...valid, ...change }), refused: true })),
      },
      { weight: 1, arbitrary: withExtraKey(valid) },
      { weight: 1, arbitrary: notAnObject },
    ),
  );

const decisionBody: fc.Arbitrary<BodyVariant> = fc
  .record(
    { reason: fc.string({ unit: 'binary', maxLength: 80 }), waitMs: fc.oneof(fc.constantFrom(0, 0, 10), fc.integer({ min: 0, max: 2000 })) },
    { requiredKeys: [] },
  )
  .chain((valid) =>
    fc.oneof(
      { weight: 6, arbitrary: fc.constant<BodyVariant>({ variant: 'valid', body: json(valid), refused: false }) },
      { weight: 2, arbitrary: fc.constant<BodyVariant>({ variant: 'no-body', body: undefined, refused: false }) },
      {
        weight: 1,
        arbitrary: fc
          .oneof(
            fc.integer({ min: 513, max: 3000 }).map((n) => '€'.repeat(n)),
            wrongTypeForString,
          )
          .map((reason) => ({ variant: 'bad-reason', body: json({ ...valid, reason }), refused: true })),
      },
      {
        weight: 1,
        arbitrary: fc
          .string({ unit: 'binary', minLength: 400, maxLength: 512 })
          .filter((s) => codePoints(s) <= 512)
          .map((reason) => ({ variant: 'long-reason', body: json({ ...valid, reason }), refused: false })),
      },
      { weight: 2, arbitrary: badInteger(0, 60_000).map((waitMs) => ({ variant: 'bad-wait', body: json({ ...valid, waitMs }), refused: true })) },
      { weight: 1, arbitrary: withExtraKey(valid) },
      { weight: 2, arbitrary: notAnObject },
    ),
  );

/** Content types: JSON in its spellings, and others a body must be refused for. */
const contentType: fc.Arbitrary<{ header: [string, string] | null; refused: boolean | null }> = fc.oneof(
  { weight: 30, arbitrary: fc.constant({ header: JSON_TYPE, refused: false }) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom('application/json; charset=utf-8', 'Application/JSON', 'application/json;charset=UTF-8')
      .map((v) => ({ header: ['content-type', v] as [string, string], refused: false })),
  },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data; boundary=x', 'application/octet-stream')
      .map((v) => ({ header: ['content-type', v] as [string, string], refused: true })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('', 'application/json; charset=utf-16', 'application/vnd.api+json', '*/*', 'application/jsonx', 'json', 'application/json, text/plain')
      .map((v) => ({ header: ['content-type', v] as [string, string], refused: null })),
  },
  { weight: 1, arbitrary: fc.constant({ header: null, refused: true }) },
);

const withContentType = (build: (ct: [string, string] | null) => FuzzRequest) =>
  contentType.map(({ header, refused }) => {
    const request = build(header);
    if (!request.body) return request;
    if (refused === true && request.expect === undefined) return { ...request, expect: 'refused' as const };
    if (refused === null && request.expect === 'refused') return request;
    if (refused === null) return { ...request, label: `${request.label} (odd content-type)` };
    return request;
  });

export const v1Requests: fc.Arbitrary<FuzzRequest> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.tuple(apiAuth, sagaBody).chain(([auth, body]) => withContentType((ct) => v1Request('saga', 'POST', '/v1/sagas', auth, body, ct))),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(apiAuth, messageBody).chain(([auth, body]) => withContentType((ct) => v1Request('message', 'POST', '/v1/messages', auth, body, ct))),
  },
  {
    weight: 4,
    arbitrary: fc.tuple(apiAuth, beginBody).chain(([auth, body]) => withContentType((ct) => v1Request('begin', 'POST', '/v1/transactions', auth, body, ct))),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(apiAuth, pathGid, registerBody)
      .chain(([auth, gid, body]) =>
        withContentType((ct) => withBadPath(v1Request('register', 'POST', `/v1/transactions/${gid.text}/branches`, auth, body, ct), gid.bad)),
      ),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(apiAuth, pathGid, decisionBody)
      .chain(([auth, gid, body]) =>
        withContentType((ct) => withBadPath(v1Request('submit', 'POST', `/v1/transactions/${gid.text}/submit`, auth, body, ct), gid.bad)),
      ),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(apiAuth, pathGid, decisionBody)
      .chain(([auth, gid, body]) =>
        withContentType((ct) => withBadPath(v1Request('abort', 'POST', `/v1/transactions/${gid.text}/abort`, auth, body, ct), gid.bad)),
      ),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(apiAuth, pathGid).map(([auth, gid]) => withBadPath(v1Request('view', 'GET', `/v1/transactions/${gid.text}`, auth, undefined), gid.bad)),
  },
);

/**
 * A bad gid in the path makes any request a refusal: 400 from the schema,
 * or from the router before any hook for a malformed escape, or 401 when
 * the token is checked first. Which of them is not this fuzz's concern.
 */
function withBadPath(request: FuzzRequest, badGid: boolean): FuzzRequest {
  if (!badGid) return request;
  return { ...request, label: `${request.label} (bad path gid)`, expect: 'refused' };
}

// ---------------------------------------------------------------- /admin/v1

type AdminRole = 'operator' | 'viewer' | 'none' | 'wrong';

const adminAuth: fc.Arbitrary<{ role: AdminRole; headers: [string, string][] }> = fc.oneof(
  { weight: 14, arbitrary: fc.constant({ role: 'operator' as const, headers: [['authorization', 'Bearer {{OPERATOR_TOKEN}}']] as [string, string][] }) },
  { weight: 3, arbitrary: fc.constant({ role: 'viewer' as const, headers: [['authorization', 'Bearer {{VIEWER_TOKEN}}']] as [string, string][] }) },
  { weight: 1, arbitrary: fc.constant({ role: 'none' as const, headers: [] as [string, string][] }) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom<[string, string][]>(
        [['authorization', 'Bearer {{API_TOKEN}}']],
        [['authorization', 'Bearer {{OPERATOR_TOKEN}}x']],
        [['authorization', 'Bearer']],
        [['authorization', 'Basic YWxpY2U6eA==']],
        [['authorization', `Bearer ${'o'.repeat(5000)}`]],
        [['authorization', 'Bearer \u00e9\u00e8']],
        [['authorization', '{{OPERATOR_TOKEN}}']],
      )
      .map((headers) => ({ role: 'wrong' as const, headers })),
  },
);

/** An admin reason: 3-1000 characters with three visible ones, or not. */
const reason: fc.Arbitrary<{ value: unknown; bad: boolean }> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .string({ unit: 'binary', minLength: 3, maxLength: 60 })
      .map((s) => `fuzz ${s}`)
      .map((value) => ({ value, bad: codePoints(value) > 1000 })),
  },
  { weight: 2, arbitrary: fc.integer({ min: 900, max: 1000 }).map((n) => ({ value: `long reason ${'ü'.repeat(n - 12)}`, bad: false })) },
  {
    weight: 2,
    arbitrary: fc.constantFrom<unknown>('', 'ab', '   ', '\t\n\t', ' a b ', 'x'.repeat(1001), null, 5, ['why']).map((value) => ({ value, bad: true })),
  },
  { weight: 1, arbitrary: oddText.map((value) => ({ value, bad: codePoints(value) < 3 || codePoints(value) > 1000 || !/\S(?:\s*\S){2}/u.test(value) })) },
);

function adminRequest(
  label: string,
  method: 'GET' | 'POST',
  path: string,
  auth: { role: AdminRole; headers: [string, string][] },
  body: BodyVariant | undefined,
  known: boolean,
): FuzzRequest {
  const headers: [string, string][] = [...auth.headers];
  if (body?.body) headers.push(JSON_TYPE);
  let expect: Expectation | undefined;
  if (known && (auth.role === 'none' || auth.role === 'wrong')) expect = 'unauthenticated';
  else if (known && auth.role === 'viewer' && method === 'POST') expect = 'forbidden';
  else if (body?.refused) expect = 'refused';
  return {
    label: `admin ${label}${body ? ` / ${body.variant}` : ''}`,
    target: 'coordinator',
    method,
    path,
    headers,
    ...(body?.body ? { body: body.body } : {}),
    ...(expect ? { expect } : {}),
  };
}

const actionBody = (extra: Record<string, unknown> = {}): fc.Arbitrary<BodyVariant> =>
  reason.chain((r) =>
    fc.oneof(
      {
        weight: 6,
        arbitrary: fc.constant<BodyVariant>({ variant: r.bad ? 'bad-reason' : 'valid', body: json({ reason: r.value, ...extra }), refused: r.bad }),
      },
      { weight: 1, arbitrary: fc.constant<BodyVariant>({ variant: 'no-body', body: undefined, refused: true }) },
      { weight: 1, arbitrary: withExtraKey({ reason: 'fuzz reason', ...extra }) },
      { weight: 1, arbitrary: notAnObject },
    ),
  );

const closeBody: fc.Arbitrary<BodyVariant> = fc.oneof(
  { weight: 3, arbitrary: actionBody({ lastResort: true }) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom<unknown>(false, 'true', 1, null, undefined)
      .map((lastResort) => ({ variant: 'bad-last-resort', body: json({ reason: 'fuzz close', lastResort }), refused: true })),
  },
);

const isoTime = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true })
      .map((d) => ({ text: d.toISOString(), bad: false })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('2024-13-45T99:99:99Z', '2024-02-30T00:00:00Z', '9999-99-99T99:99Z', '0000-00-00T00:00:00+99:99')
      .map((text) => ({ text, bad: null as boolean | null })),
  },
  { weight: 1, arbitrary: oddText.map((text) => ({ text, bad: true })) },
);

const validListQuery: fc.Arbitrary<string> = fc
  .record(
    {
      status: fc.constantFrom('trying', 'confirming', 'cancelling', 'confirmed', 'cancelled'),
      mode: fc.constant('tcc'),
      gidPrefix: fc.constantFrom('fz', '{{GID}}', 'a'),
      participant: fc.constant('{{STUB}}'),
      createdAfter: fc.constant('2000-01-01T00:00:00Z'),
      needsAttention: fc.constantFrom('true', 'false'),
      paused: fc.constantFrom('true', 'false'),
      olderThanMs: fc.constantFrom('0', '1000'),
      order: fc.constantFrom('newest', 'oldest'),
      limit: fc.constantFrom('1', '50', '500'),
    },
    { requiredKeys: [] },
  )
  .map((fields) =>
    Object.entries(fields)
      .map(([k, v]) => `${k}=${percentEncode(v)}`)
      .join('&'),
  );

/** A query string with every field valid or not, encoded or raw. */
const oddListQuery: fc.Arbitrary<{ text: string; bad: boolean | null }> = fc
  .record(
    {
      status: fc.oneof(
        fc.constantFrom('trying', 'confirming', 'cancelling', 'confirmed', 'cancelled').map((t) => ({ t, bad: false })),
        oddText.map((t) => ({ t, bad: true })),
      ),
      mode: fc.oneof(
        fc.constant({ t: 'tcc', bad: false }),
        fc.constantFrom('saga', '').map((t) => ({ t, bad: true })),
      ),
      gidPrefix: fc.oneof(
        validId(LIMITS.gidMaxLength).map((t) => ({ t, bad: false })),
        invalidId(LIMITS.gidMaxLength).map((t) => ({ t, bad: true })),
      ),
      participant: fc.oneof(
        fc.constant({ t: '{{STUB}}', bad: false }),
        fc.constantFrom(...INVALID_URLS).map((t) => ({ t, bad: null as boolean | null })),
      ),
      createdAfter: isoTime.map(({ text, bad }) => ({ t: text, bad })),
      createdBefore: isoTime.map(({ text, bad }) => ({ t: text, bad })),
      needsAttention: fc.oneof(
        fc.constantFrom('true', 'false').map((t) => ({ t, bad: false })),
        fc.constantFrom('1', 'yes', 'TRUE', '').map((t) => ({ t, bad: true })),
      ),
      paused: fc.constantFrom('true', 'false').map((t) => ({ t, bad: false })),
      olderThanMs: fc.oneof(
        fc.constantFrom('0', '1000', '999999999999999').map((t) => ({ t, bad: false })),
        fc.constantFrom('-1', '1.5', '1e3', '9999999999999999', 'x').map((t) => ({ t, bad: true })),
      ),
      order: fc.oneof(
        fc.constantFrom('newest', 'oldest').map((t) => ({ t, bad: false })),
        oddText.map((t) => ({ t, bad: true })),
      ),
      limit: fc.oneof(
        fc.constantFrom('1', '50', '500').map((t) => ({ t, bad: false })),
        fc.constantFrom('0', '501', '-1', '999999999999999', 'ten').map((t) => ({ t, bad: true })),
      ),
      cursor: fc.oneof(
        fc.base64String({ maxLength: 40 }).map((t) => ({ t: t.replaceAll('+', '-').replaceAll('/', '_').replaceAll('=', ''), bad: null as boolean | null })),
        oddText.map((t) => ({ t, bad: null as boolean | null })),
      ),
      unknown: fc.constant({ t: '1', bad: true }),
    },
    { requiredKeys: [] },
  )
  .chain((fields) =>
    fc.boolean().map((raw) => {
      const entries = Object.entries(fields) as [string, { t: string; bad: boolean | null }][];
      const text = entries.map(([k, { t }]) => `${k}=${raw ? t.replace(/[\s#]/g, '+') : percentEncode(t)}`).join('&');
      const bads = entries.map(([, v]) => v.bad);
      // Raw (unencoded) values may be read differently than meant: no expectation then.
      const bad = raw ? null : bads.includes(true) ? true : bads.includes(null) ? null : false;
      return { text, bad };
    }),
  );

/** A query string for GET /admin/v1/transactions. */
const listQuery: fc.Arbitrary<{ text: string; bad: boolean | null }> = fc.oneof(
  { weight: 2, arbitrary: validListQuery.map((text) => ({ text, bad: false as boolean | null })) },
  { weight: 3, arbitrary: oddListQuery },
);

export const adminRequests: fc.Arbitrary<FuzzRequest> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        adminAuth,
        listQuery,
        fc.oneof({ weight: 6, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('&status=trying&status=confirmed', '&limit=5&limit=6') }),
      )
      .map(([auth, q, dup]) => {
        const request = adminRequest('list', 'GET', `/admin/v1/transactions?${q.text}${dup}`, auth, undefined, true);
        return q.bad === true && !dup && !request.expect ? { ...request, expect: 'refused' as const } : request;
      }),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(adminAuth, pathGid)
      .map(([auth, gid]) => withBadAdminPath(adminRequest('view', 'GET', `/admin/v1/transactions/${gid.text}`, auth, undefined, true), gid.bad)),
  },
  { weight: 1, arbitrary: adminAuth.map((auth) => adminRequest('stats', 'GET', '/admin/v1/stats', auth, undefined, true)) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        adminAuth,
        fc.oneof(
          fc.constant('gid={{GID}}'),
          fc.constant('limit=5&beforeId=999999'),
          oddText.map((t) => `gid=${percentEncode(t)}`),
          fc.constantFrom('limit=0', 'limit=501', 'beforeId=-1', 'beforeId=99999999999999999'),
        ),
      )
      .map(([auth, q]) => adminRequest('audit', 'GET', `/admin/v1/audit?${q}`, auth, undefined, true)),
  },
  {
    weight: 6,
    arbitrary: fc
      .tuple(adminAuth, pathGid, fc.constantFrom('retry', 'pause', 'resume', 'force-abort'), actionBody())
      .map(([auth, gid, action, body]) =>
        withBadAdminPath(adminRequest(action, 'POST', `/admin/v1/transactions/${gid.text}/${action}`, auth, body, true), gid.bad),
      ),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        adminAuth,
        pathGid,
        fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom('b1', 'b2', 'b3').map((t) => ({ t, bad: false })) },
          { weight: 1, arbitrary: invalidId(LIMITS.branchIdMaxLength).map((t) => ({ t: percentEncode(t), bad: true })) },
        ),
        actionBody(),
      )
      .map(([auth, gid, branch, body]) =>
        withBadAdminPath(
          adminRequest('resolve', 'POST', `/admin/v1/transactions/${gid.text}/branches/${branch.t}/resolve`, auth, body, true),
          gid.bad || branch.bad,
        ),
      ),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(adminAuth, pathGid, closeBody)
      .map(([auth, gid, body]) => withBadAdminPath(adminRequest('close', 'POST', `/admin/v1/transactions/${gid.text}/close`, auth, body, true), gid.bad)),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        adminAuth,
        fc.record(
          {
            status: fc.constantFrom('confirming', 'cancelling', 'trying'),
            needsAttention: fc.boolean(),
            olderThanMs: fc.nat(),
            gidPrefix: validId(20),
            participant: fc.constant('{{STUB}}'),
          },
          { requiredKeys: [] },
        ),
        fc.oneof(
          fc.integer({ min: 1, max: 100_000 }).map((v) => ({ v: v as unknown, bad: false })),
          badInteger(1, 100_000).map((v) => ({ v, bad: true })),
        ),
        reason,
        fc.nat({ max: 5 }),
      )
      .map(([auth, filter, limit, r, mutate]) => {
        const value: Record<string, unknown> = { filter, limit: limit.v, reason: r.value };
        let bad = limit.bad || r.bad;
        if (mutate === 0) {
          value.filter = { ...filter, status: 'bogus' };
          bad = true;
        } else if (mutate === 1) {
          delete value.filter;
          bad = true;
        }
        return adminRequest(
          'bulk-retry',
          'POST',
          '/admin/v1/transactions/retry',
          auth,
          { variant: bad ? 'invalid' : 'valid', body: json(value), refused: bad },
          true,
        );
      }),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        adminAuth,
        fc.constantFrom(
          'GET /admin/v1/nope',
          'POST /admin/v1/stats',
          'DELETE /admin/v1/transactions/{{GID}}',
          'PUT /admin/v1/transactions/{{GID}}/pause',
          'GET /admin/v1/transactions/{{GID}}/pause',
          'GET /admin/v1',
          'GET /admin/v1/',
        ),
      )
      .map(([auth, line]) => {
        const [method, path] = line.split(' ') as [string, string];
        return adminRequest('other', method as 'GET', path, auth, undefined, false);
      }),
  },
);

/** As withBadPath: a 400 (router or schema), a 401 or a 403 are all right for a bad id in the path. */
function withBadAdminPath(request: FuzzRequest, bad: boolean): FuzzRequest {
  if (!bad) return request;
  return { ...request, label: `${request.label} (bad path id)`, expect: 'refused' };
}

// ---------------------------------------------------------------- participant

const OPS = ['try', 'confirm', 'cancel'] as const;

/** A try (prepare) without the coordinator's registration proof of its branch for its caller. */
export const NOT_REGISTERED: Refusal = { status: 409, code: 'NOT_REGISTERED' };

/** Every way a registration proof can fail to be the one of the call's branch for its caller (a RegistrationSpec's, or none). */
const WRONG_PROOFS = ['none', 'other-branch', 'other-gid', 'other-caller', 'own-key'] as const;
type WrongProof = (typeof WRONG_PROOFS)[number];
const wrongProof = (proof: WrongProof): { registration?: RegistrationSpec } => (proof === 'none' ? {} : { registration: { proof } });

const participantPayload: fc.Arbitrary<{ body: BodySpec | undefined; bad: boolean; variant: string }> = fc.oneof(
  { weight: 8, arbitrary: payload.map((value) => ({ body: json(value), bad: false, variant: 'payload' })) },
  { weight: 1, arbitrary: fc.constant({ body: undefined, bad: false, variant: 'empty' }) },
  {
    weight: 2,
    arbitrary: malformedJsonText('{"amount":1}')
      .filter((t) => t.trim() !== '')
      .map((text) => ({ body: { kind: 'text', parts: [text] } as BodySpec, bad: true, variant: 'malformed-json' })),
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 1024 * 1024 + 1, max: 2 * 1024 * 1024 })
      .map((n) => ({ body: { kind: 'text', parts: ['"', new Repeat('z', n), '"'] } as BodySpec, bad: true, variant: 'over-1MiB' })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('c3ff', 'fffe7b007d00', '00').map((hex) => ({ body: { kind: 'hex', hex } as BodySpec, bad: true, variant: 'bad-bytes' })),
  },
);

/** A header value: the expected one, a wrong one, absent, or sent twice. */
function headerChoice(good: fc.Arbitrary<string>, odd: fc.Arbitrary<string>): fc.Arbitrary<{ values: string[]; bad: boolean }> {
  return fc.oneof(
    { weight: 12, arbitrary: good.map((v) => ({ values: [v], bad: false })) },
    { weight: 2, arbitrary: odd.map((v) => ({ values: [v], bad: true })) },
    { weight: 1, arbitrary: fc.constant({ values: [] as string[], bad: true }) },
    { weight: 1, arbitrary: fc.tuple(good, fc.oneof(good, odd)).map(([a, b]) => ({ values: [a, b], bad: true })) },
  );
}

export const participantRequests: fc.Arbitrary<FuzzRequest> = fc
  .record({
    target: fc.constantFrom<Target>('participant-fastify', 'participant-node'),
    method: fc.oneof(
      { weight: 20, arbitrary: fc.constant('POST') },
      { weight: 1, arbitrary: fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD') },
    ),
    mount: fc.oneof(
      { weight: 20, arbitrary: fc.constant({ t: '/dtx', bad: false }) },
      { weight: 1, arbitrary: fc.constantFrom('', '/DTX', '/dtxx', '/dtx/account', '/dtx/%2e%2e').map((t) => ({ t, bad: true })) },
      { weight: 1, arbitrary: fc.constant({ t: '/dtx/', bad: false }) },
    ),
    resource: fc.oneof(
      { weight: 20, arbitrary: fc.constant({ t: 'account', bad: false }) },
      { weight: 1, arbitrary: oddText.map((t) => ({ t: percentEncode(t), bad: t !== 'account' })) },
    ),
    op: fc.oneof(
      { weight: 20, arbitrary: fc.constantFrom(...OPS).map((t) => ({ t, bad: false })) },
      {
        weight: 2,
        arbitrary: fc.constantFrom('action', 'compensate', 'TRY', 'try/extra', '%74ry', 'try%00', 'constructor', '__proto__').map((t) => ({ t, bad: true })),
      },
    ),
    query: fc.oneof({ weight: 10, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('?x=1', '?', '?dtx-gid=other') }),
    gid: headerChoice(
      fc.constantFrom('{{GID}}', '{{GID}}', '{{NEWGID}}'),
      invalidId(LIMITS.gidMaxLength).filter((s) => !/[\r\n]/.test(s)),
    ),
    branch: headerChoice(
      fc.constantFrom('b1', 'b2', 'b9'),
      invalidId(LIMITS.branchIdMaxLength).filter((s) => !/[\r\n]/.test(s)),
    ),
    headerOp: fc.oneof(
      { weight: 12, arbitrary: fc.constant({ same: true, values: [] as string[] }) },
      {
        weight: 1,
        arbitrary: fc.constantFrom<string[]>([], ['try', 'try'], ['cancel'], ['confirm'], ['TRY'], ['']).map((values) => ({ same: false, values })),
      },
    ),
    timestamp: fc.oneof(
      { weight: 12, arbitrary: fc.constant({ t: '{{NOW}}', bad: false }) },
      {
        weight: 2,
        arbitrary: fc.constantFrom('{{STALE}}', '', 'abc', '1e3', '-1', '99999999999999999', '{{NOW}}.5', '0x10', '{{NOW}}0').map((t) => ({ t, bad: true })),
      },
    ),
    signature: fc.oneof(
      { weight: 12, arbitrary: fc.constant({ kind: 'good' as const }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'other' as const }) },
      // The other role's key: a try signed with the coordinator's key, a confirm with the initiator's.
      { weight: 1, arbitrary: fc.constant({ kind: 'wrong-role' as const }) },
      {
        weight: 1,
        arbitrary: fc
          .constantFrom('', 'v3=', 'v1=00', `v2=${'0'.repeat(64)}`, `v3=${'0'.repeat(64)}`, `v3=${'g'.repeat(64)}`, 'x'.repeat(2000), 'V3=abc')
          .map((value) => ({ kind: 'literal' as const, value })),
      },
      { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) },
    ),
    // dtx-caller: who the call acts for. A try must name an initiator with a key at the participant;
    // on the coordinator's ops it is only signed, whatever it says.
    caller: fc.oneof(
      { weight: 12, arbitrary: fc.constant({ values: ['{{CALLER}}'], known: true }) },
      { weight: 1, arbitrary: fc.constant({ values: [] as string[], known: false }) },
      { weight: 1, arbitrary: fc.constantFrom('stranger', 'TESTS', 'tests.', '').map((v) => ({ values: [v], known: false })) },
      // HTTP trims a header value's outer whitespace: one that trims to the initiator's name would be known after all.
      { weight: 1, arbitrary: oddText.filter((s) => !/[\r\n]/.test(s) && s.trim() !== 'tests').map((v) => ({ values: [v], known: false })) },
    ),
    coordinator: fc.oneof(
      { weight: 6, arbitrary: fc.constant<string | null>(null) },
      { weight: 2, arbitrary: fc.constant<string | null>('http://127.0.0.1:1') },
      { weight: 1, arbitrary: oddText.filter((s) => !/[\r\n]/.test(s)) },
    ),
    // dtx-registration: the coordinator's proof of the call's branch for its caller (a try runs only
    // with it), none, a wrong one, or junk. The coordinator's ops are not asked for one.
    registration: fc.oneof(
      { weight: 12, arbitrary: fc.constant({ spec: { proof: 'good' } as RegistrationSpec | null, values: [] as string[], good: true }) },
      {
        weight: 2,
        arbitrary: fc.constantFrom(...WRONG_PROOFS).map((proof) => ({ spec: wrongProof(proof).registration ?? null, values: [] as string[], good: false })),
      },
      {
        weight: 1,
        arbitrary: fc
          .constantFrom('', 'v1=', `v1=${'0'.repeat(64)}`, `v2=${'0'.repeat(64)}`, `V1=${'a'.repeat(64)}`, 'x'.repeat(2000))
          .map((value) => ({ spec: null as RegistrationSpec | null, values: [value], good: false })),
      },
    ),
    body: participantPayload,
    contentType: fc.oneof(
      { weight: 10, arbitrary: fc.constant('application/json') },
      { weight: 1, arbitrary: fc.constantFrom('text/plain', '', 'application/xml', 'application/json; charset=latin1') },
    ),
  })
  .map((c) => {
    const op = c.op.t;
    const path = `${c.mount.t}/${c.resource.t}/${op}${c.query}`;
    const headers: [string, string][] = [];
    for (const v of c.gid.values) headers.push(['dtx-gid', v]);
    for (const v of c.branch.values) headers.push(['dtx-branch-id', v]);
    const opValues = c.headerOp.same ? [op] : c.headerOp.values;
    for (const v of opValues) headers.push(['dtx-op', v]);
    headers.push(['dtx-timestamp', c.timestamp.t]);
    if (c.coordinator !== null) headers.push(['dtx-coordinator', c.coordinator]);
    for (const v of c.caller.values) headers.push(['dtx-caller', v]);
    for (const v of c.registration.values) headers.push(['dtx-registration', v]);
    if (c.signature.kind === 'literal') headers.push(['dtx-signature', c.signature.value]);
    if (c.contentType !== '' || c.body.body) headers.push(['content-type', c.contentType]);
    const bad =
      c.method !== 'POST' ||
      c.mount.bad ||
      c.resource.bad ||
      c.op.bad ||
      c.gid.bad ||
      c.branch.bad ||
      // A dtx-op header chosen to differ may happen to name the path's op after all: that one is fine.
      (!c.headerOp.same && !(c.headerOp.values.length === 1 && c.headerOp.values[0] === op)) ||
      c.timestamp.bad ||
      c.signature.kind !== 'good' ||
      // A try from no initiator the participant has a key for.
      (op === 'try' && !c.caller.known) ||
      // A try without the registration proof of its branch for its caller.
      (op === 'try' && !c.registration.good) ||
      c.body.bad;
    // Routed to the participant with its dtx headers readable (each sent once, the op agreeing with
    // the path), a call's signature is checked next: before the ids' rules, the body, the barrier.
    const reachesSignature =
      c.method === 'POST' &&
      // The Fastify router does not take `/dtx//account/…`; the node:http handler does.
      (c.mount.t === '/dtx' || (c.mount.t === '/dtx/' && c.target === 'participant-node')) &&
      !c.resource.bad &&
      !c.op.bad &&
      c.gid.values.length === 1 &&
      c.branch.values.length === 1 &&
      (c.headerOp.same || (c.headerOp.values.length === 1 && c.headerOp.values[0] === op)) &&
      // Under the body limit (1 MiB), which both hosts apply before the SDK: a deep payload can be over it too.
      bodyLength(c.body.body) < 1_000_000 &&
      // Fastify refuses a body under an empty content type before any parser (400): the SDK never sees it.
      !(c.target === 'participant-fastify' && c.contentType === '' && c.body.body !== undefined);
    // No key of the participant verifies it: the other role's key (a try signed with the coordinator's,
    // a confirm with the initiator's), an unknown key, none, a malformed or stale one, or a try naming
    // a caller with no key there. Such a call must be 401, nothing else.
    const unverifiable = c.signature.kind !== 'good' || c.timestamp.bad || (op === 'try' && !c.caller.known);
    // A try whose signature verifies for certain (ids and headers sent as signed: nothing a server
    // trims or re-encodes; a path the signature names) without its proof: the proof is checked next,
    // before the ids' rules and the body, so the answer is exactly 409 NOT_REGISTERED.
    const unregistered =
      reachesSignature &&
      !unverifiable &&
      op === 'try' &&
      !c.registration.good &&
      c.mount.t === '/dtx' &&
      !c.gid.bad &&
      !c.branch.bad &&
      (c.coordinator === null || c.coordinator === 'http://127.0.0.1:1');
    const expect: Expectation | undefined = reachesSignature && unverifiable ? 'unauthenticated' : unregistered ? NOT_REGISTERED : bad ? 'refused' : undefined;
    const request: FuzzRequest = {
      label: `participant ${c.target === 'participant-node' ? 'node' : 'fastify'} ${OPS.includes(op as (typeof OPS)[number]) ? op : 'odd-op'}${bad ? ' / invalid' : ' / signed'}${c.body.variant === 'payload' ? '' : ` (${c.body.variant})`}`,
      target: c.target,
      method: c.method,
      path,
      headers,
      ...(c.body.body ? { body: c.body.body } : {}),
      ...(c.signature.kind === 'good' || c.signature.kind === 'other' || c.signature.kind === 'wrong-role' ? { sign: { key: c.signature.kind } } : {}),
      ...(c.registration.spec ? { registration: c.registration.spec } : {}),
      ...(expect ? { expect } : {}),
    };
    return request;
  });

/**
 * An initiator's first op — a try of `account`, a prepare of the XA resource — signed as it must be,
 * on clean headers, for a branch of the transaction under test or of none, whose registration proof
 * is missing or not the coordinator's for that branch and caller: exactly 409 NOT_REGISTERED, with
 * nothing run or written (a 2xx, or any other answer, is a finding).
 */
export function unregisteredFirstOp(
  target: 'participant-fastify' | 'participant-node',
  op: 'try' | 'prepare',
  gid: string,
  branchId: string,
  proof: WrongProof,
  coordinator: string | null = null,
): FuzzRequest {
  return {
    label: `participant ${target === 'participant-node' ? 'node' : 'fastify'} ${op} / unregistered (${proof === 'none' ? 'no proof' : proof})`,
    target,
    method: 'POST',
    path: `/dtx/${op === 'try' ? 'account' : FUZZ_XA_RESOURCE}/${op}`,
    headers: [
      ['dtx-gid', gid],
      ['dtx-branch-id', branchId],
      ['dtx-op', op],
      ['dtx-timestamp', '{{NOW}}'],
      ['dtx-caller', '{{CALLER}}'],
      ...(coordinator === null ? [] : [['dtx-coordinator', coordinator] as [string, string]]),
      ['content-type', 'application/json'],
    ],
    body: json({ amount: 1 }),
    sign: { key: 'good' },
    ...wrongProof(proof),
    expect: NOT_REGISTERED,
  };
}

export const unregisteredFirstOps: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    fc.constantFrom<'participant-fastify' | 'participant-node'>('participant-fastify', 'participant-node'),
    fc.constantFrom<'try' | 'prepare'>('try', 'prepare'),
    fc.constantFrom('{{GID}}', '{{NEWGID}}'),
    fc.constantFrom('b1', 'b2', 'b9'),
    fc.constantFrom(...WRONG_PROOFS),
    fc.constantFrom<string | null>(null, 'http://127.0.0.1:1'),
  )
  .map(([target, op, gid, branchId, proof, coordinator]) => unregisteredFirstOp(target, op, gid, branchId, proof, coordinator));

// ---------------------------------------------------------------- the rest of the coordinator

export const otherRequests: fc.Arbitrary<FuzzRequest> = fc
  .constantFrom(
    'GET /health',
    'HEAD /health',
    'POST /health',
    'GET /metrics',
    'GET /docs',
    'GET /docs/json',
    'GET /console',
    'GET /console/',
    'GET /console/console.js',
    'GET /console/..%2Fconsole.ts',
    'GET /console/%00',
    'GET /',
    'GET /v1',
    'GET /v1/',
    'GET /v1/transactions',
    'DELETE /v1/transactions/{{GID}}',
    'PUT /v1/transactions/{{GID}}/submit',
    'PATCH /v1/transactions',
    'OPTIONS /v1/transactions',
    'TRACE /v1/transactions',
    'SEARCH /v1/transactions',
    'PROPFIND /v1/transactions',
    'GET /v1/transactions/{{GID}}/submit',
    'GET *',
    'OPTIONS *',
  )
  .map((line) => {
    const [method, path] = line.split(' ') as [string, string];
    return {
      label: `other ${line.replace('{{GID}}', ':gid')}`,
      target: 'coordinator' as const,
      method,
      path,
      headers: [['authorization', 'Bearer {{API_TOKEN}}']],
    };
  });

// ---------------------------------------------------------------- whitespace in parsed headers

/**
 * A long run of spaces, tabs or both, as long as fits in Node's 16 KiB of
 * headers: the input on which a backtracking parser of a header value takes
 * time quadratic (or worse) in the run's length. The timing check
 * (timing.ts) sees such a request cost far more than others of its kind.
 */
export const whitespaceRun: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(' ', '\t', ' \t'), fc.integer({ min: 2_000, max: 15_000 }))
  .map(([unit, length]) => unit.repeat(Math.ceil(length / unit.length)).slice(0, length));

/** `authorization` values around a run; `identified` when the token is still the one named (Node trims the value's ends). */
function authorizationAround(run: string, token: string): { value: string; identified: boolean }[] {
  return [
    { value: `Bearer x${run}y`, identified: false },
    { value: `Bearer${run}`, identified: false },
    { value: `Bearer ${run}${token}`, identified: run.trim() === '' && !run.includes('\t') },
    { value: `Bearer ${token}${run}x`, identified: false },
    { value: `${run}Bearer ${token}${run}`, identified: true },
    { value: `Basic${run}x`, identified: false },
  ];
}

const authorizationWhitespace: fc.Arbitrary<FuzzRequest> = fc
  .tuple(whitespaceRun, fc.nat({ max: 5 }), fc.constantFrom('v1 view', 'v1 begin', 'admin view', 'admin list'))
  .map(([run, shape, route]) => {
    const v1 = route.startsWith('v1');
    const { value, identified } = authorizationAround(run, v1 ? '{{API_TOKEN}}' : '{{OPERATOR_TOKEN}}')[shape]!;
    // A write only where the token cannot pass: an accepted one would be a begin like any other.
    const begin = route === 'v1 begin' && !identified;
    const path = begin
      ? '/v1/transactions'
      : v1
        ? '/v1/transactions/{{GID}}'
        : route === 'admin view'
          ? '/admin/v1/transactions/{{GID}}'
          : '/admin/v1/transactions?limit=5';
    return {
      label: `${begin || route !== 'v1 begin' ? route : 'v1 view'} / whitespace in authorization`,
      target: 'coordinator' as const,
      method: begin ? 'POST' : 'GET',
      path,
      headers: [['authorization', value] as [string, string], ...(begin ? [JSON_TYPE] : [])],
      ...(begin ? { body: json({ gid: '{{NEWGID}}' }) } : {}),
      ...(identified ? {} : { expect: v1 ? ('api-unauthenticated' as const) : ('unauthenticated' as const) }),
    };
  });

/** A begin refused whatever its content type says (an unknown key, or a type other than JSON): only the header's parsing runs. */
const contentTypeWhitespace: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    whitespaceRun,
    fc.constantFrom(
      (r: string) => `application/json;${r}charset=utf-8`,
      (r: string) => `application/json${r};charset=utf-8`,
      (r: string) => `application/${r}json`,
      (r: string) => `application/json;${r}`,
      (r: string) => `application/json; charset="${r}x"`,
      (r: string) => `application/json;${r}x=y;${r.slice(0, 100)}z`,
      (r: string) => `text/plain;${r}charset=utf-8`,
    ),
  )
  .map(([run, shape]) => ({
    label: 'v1 begin / whitespace in content-type',
    target: 'coordinator' as const,
    method: 'POST',
    path: '/v1/transactions',
    headers: [['authorization', 'Bearer {{API_TOKEN}}'] as [string, string], ['content-type', shape(run)] as [string, string]],
    body: json({ gid: '{{NEWGID}}', fuzz: 1 }),
    expect: 'refused' as const,
  }));

/** Other headers something parses: the console's validators, Node's expectations and connection options. */
const otherHeaderWhitespace: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    whitespaceRun,
    fc.constantFrom(
      ['if-none-match', (r: string) => `W/"x"${r},${r.slice(0, 100)}"y"`],
      ['if-none-match', (r: string) => `"x"${r}*`],
      ['expect', (r: string) => `100-continue${r}x`],
      ['connection', (r: string) => `close,${r}keep-alive`],
    ) as fc.Arbitrary<[string, (r: string) => string]>,
  )
  .map(([run, [name, shape]]): FuzzRequest => {
    const console = name === 'if-none-match';
    return {
      label: `${console ? 'other GET /console/console.js' : 'v1 begin'} / whitespace in ${name}`,
      target: 'coordinator',
      method: console ? 'GET' : 'POST',
      path: console ? '/console/console.js' : '/v1/transactions',
      headers: [[name, shape(run)], ...(console ? [] : [['authorization', 'Bearer {{API_TOKEN}}'] as [string, string], JSON_TYPE])],
      ...(console ? {} : { body: json({ gid: '{{NEWGID}}', fuzz: 1 }), expect: 'refused' as const }),
    };
  });

/** A participant's try, its dtx headers well-formed but one, which carries a run. */
const participantHeaderWhitespace: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    whitespaceRun,
    fc.constantFrom<Target>('participant-fastify', 'participant-node'),
    fc.constantFrom(
      ['dtx-gid', (r: string) => `{{GID}}${r}x`],
      ['dtx-branch-id', (r: string) => `b9${r}x`],
      ['dtx-op', (r: string) => `try${r}x`],
      ['dtx-timestamp', (r: string) => `{{NOW}}${r}1`],
      ['dtx-caller', (r: string) => `{{CALLER}}${r}x`],
      ['dtx-signature', (r: string) => `${SIGNATURE_VERSION}=${r}${'0'.repeat(64)}`],
      ['dtx-registration', (r: string) => `v1=${r}${'0'.repeat(64)}`],
    ) as fc.Arbitrary<[string, (r: string) => string]>,
  )
  .map(([run, target, [name, shape]]): FuzzRequest => {
    const headers: [string, string][] = [
      ['dtx-gid', '{{GID}}'],
      ['dtx-branch-id', 'b9'],
      ['dtx-op', 'try'],
      ['dtx-timestamp', '{{NOW}}'],
      ['dtx-caller', '{{CALLER}}'],
      ['content-type', 'application/json'],
    ].map(([n, v]) => [n!, n === name ? shape(run) : v!]);
    if (!headers.some(([n]) => n === name)) headers.push([name, shape(run)]);
    return {
      label: `participant ${target === 'participant-node' ? 'node' : 'fastify'} try / whitespace in ${name}`,
      target,
      method: 'POST',
      path: '/dtx/account/try',
      headers,
      body: json({ amount: 1 }),
      ...(name === 'dtx-signature' ? {} : { sign: { key: 'good' as const } }),
      // The proof of whatever the headers say, so that the call gets as far as its run allows.
      ...(name === 'dtx-registration' ? {} : { registration: { proof: 'good' as const } }),
      expect: 'refused',
    };
  });

/** Long runs of spaces and tabs in every header the coordinator or a participant parses. */
export const headerWhitespace: fc.Arbitrary<FuzzRequest> = fc.oneof(
  { weight: 3, arbitrary: authorizationWhitespace },
  { weight: 2, arbitrary: contentTypeWhitespace },
  { weight: 1, arbitrary: otherHeaderWhitespace },
  { weight: 2, arbitrary: participantHeaderWhitespace },
);

// ---------------------------------------------------------------- below the application

/** Breaks a request at the HTTP level: framing, header syntax and size, request line. */
export function transportAbuse(base: FuzzRequest): fc.Arbitrary<FuzzRequest> {
  const abused = (label: string, change: Partial<FuzzRequest>, flags: Partial<FuzzRequest> = { transport: true }): FuzzRequest => {
    const { expect: _expect, ...rest } = base;
    return { ...rest, ...change, ...flags, label: `${base.label} + ${label}` };
  };
  return fc.oneof(
    // Without a body to read, a declared length leaves the server waiting: no answer is then all right.
    fc
      .constantFrom('5', '6')
      .map((second) =>
        abused(
          'duplicate content-length',
          { headers: [...base.headers, ['content-length', '5'], ['content-length', second]], omit: ['content-length'] },
          { transport: true, mayGoUnanswered: !base.body },
        ),
      ),
    fc.constant(
      abused(
        'content-length beyond the body',
        { headers: [...base.headers, ['content-length', BODY_LENGTH_PLUS_50]], omit: ['content-length'] },
        { transport: true, mayGoUnanswered: true },
      ),
    ),
    fc
      .constantFrom('abc', '-1', '1.5', '0x10', '99999999999999999999', '1,2', '')
      .map((v) =>
        abused(
          'bad content-length',
          { headers: [...base.headers, ['content-length', v]], omit: ['content-length'] },
          { transport: true, mayGoUnanswered: !base.body },
        ),
      ),
    fc
      .constantFrom('gzip', 'chunked, gzip', 'identity', 'xchunked')
      .map((v) =>
        abused(
          'odd transfer-encoding',
          { headers: [...base.headers, ['transfer-encoding', v]], omit: ['content-length'] },
          { transport: true, mayGoUnanswered: true },
        ),
      ),
    fc.constant(abused('chunked body', { chunked: true }, { transport: false, ...(base.expect ? { expect: base.expect } : {}) })),
    fc.constant(
      abused(
        'content-length and transfer-encoding',
        { chunked: true, headers: [...base.headers, ['content-length', '3']] },
        { transport: true, mayGoUnanswered: !base.body },
      ),
    ),
    fc.integer({ min: 9_000, max: 70_000 }).map((n) => abused('huge header', { headers: [...base.headers, ['x-fuzz', 'h'.repeat(n)]] })),
    fc
      .integer({ min: 50, max: 3_000 })
      .map((n) => abused('many headers', { headers: [...base.headers, ...Array.from({ length: n }, (_, i): [string, string] => [`x-f${i}`, 'v'])] })),
    fc
      .constantFrom('\u0000', '\u0001', '\u007f', '\u001b[0m', 'a\rb', 'a\nx-injected: 1')
      .map((c) => abused('control character in a header', { headers: [...base.headers, ['x-fuzz', `v${c}v`]] })),
    fc
      .constantFrom('é', '😀', '\u00ff\u00fe', '\u2028')
      .map((c) => abused('non-ASCII header value', { headers: [...base.headers, ['x-fuzz', c]] }, { transport: true })),
    fc.constantFrom('x y', 'x\u00e9', '(x)', '', 'x:y', 'x\u0000').map((name) => abused('bad header name', { headers: [...base.headers, [name, 'v']] })),
    fc.constant(abused('folded header', { headers: [...base.headers, ['x-fuzz', 'a\r\n b']] })),
    fc.constant(abused('no host', { omit: ['host'] })),
    fc.constant(abused('two hosts', { headers: [['host', '127.0.0.1'], ['host', 'example.invalid'], ...base.headers] })),
    fc
      .constantFrom('[', 'a'.repeat(300), '127.0.0.1:99999', 'é', '', 'x y', '127.0.0.1:-1')
      .map((host) => abused('odd host', { headers: [['host', host], ...base.headers] })),
    fc
      .constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/0.9', 'HTTX/1.1', 'HTTP/1', 'http/1.1')
      .map((version) => abused(`version ${version}`, { version })),
    fc.constantFrom('100-continue', '200-ok', 'x').map((v) => abused(`expect ${v}`, { headers: [...base.headers, ['expect', v]] })),
    fc.constant(abused('gzip content-encoding', { headers: [...base.headers, ['content-encoding', 'gzip']] })),
    fc
      .constantFrom('post', 'P0ST', 'GETT', 'CONNECT', 'BREW')
      .map((method) => abused(`method ${method}`, { method }, { transport: true, mayGoUnanswered: method === 'CONNECT' })),
    fc
      .constantFrom('?', '??', '#frag', '/', '//', '/.', '/..', '%20', '%', '/%2e%2e')
      .map((suffix) => abused(`path suffix ${suffix}`, { path: `${base.path}${suffix}` }, { transport: false })),
    fc
      .integer({ min: 2_000, max: 100_000 })
      .map((n) => abused('long request target', { path: `${base.path}${base.path.includes('?') ? '&' : '?'}q=${'q'.repeat(n)}` })),
    fc.constantFrom('é', '😀', ' ', '\t', '\u0000', '\u007f').map((c) => abused('raw character in the request target', { path: `${base.path}${c}` })),
    fc.constant(abused('absolute-form target', { path: `http://127.0.0.1${base.path}` })),
  );
}

export const anyRequest: fc.Arbitrary<FuzzRequest> = fc.oneof(
  { weight: 30, arbitrary: v1Requests },
  { weight: 20, arbitrary: adminRequests },
  { weight: 22, arbitrary: participantRequests },
  { weight: 3, arbitrary: unregisteredFirstOps },
  { weight: 12, arbitrary: fc.oneof(v1Requests, adminRequests, participantRequests).chain(transportAbuse) },
  { weight: 2, arbitrary: otherRequests },
  { weight: 4, arbitrary: headerWhitespace },
);
