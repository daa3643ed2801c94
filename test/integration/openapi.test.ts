/**
 * /docs: the OpenAPI document generated from the TypeBox schemas that
 * validate requests, and the Swagger UI page with its assets served from the
 * npm package (no CDN).
 */
import SwaggerParser from '@apidevtools/swagger-parser';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AdminAuth } from '../../coordinator/api/admin-auth.ts';
import { BeginBody } from '../../coordinator/api/schemas.ts';
import { buildApi } from '../../coordinator/api/server.ts';
import { CallerAuth } from '../../coordinator/api/caller-auth.ts';
import { startInProcessCoordinator, testEnv, TEST_API_HEADERS, type InProcessCoordinator } from '../support/coordinator-harness.ts';
import { createTestDatabase, uniqueRedisPrefix, type TestDatabase } from '../support/databases.ts';

interface Operation {
  summary?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Record<string, unknown> }> };
}
interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components?: { securitySchemes?: Record<string, { type: string; scheme?: string; in?: string; name?: string }> };
}

const API_PREFIXES = ['/v1/', '/admin/v1/'];

/** Every /v1 and /admin/v1 route the API registers, as `METHOD /path/{param}`, collected while it is built. */
async function registeredApiRoutes(): Promise<string[]> {
  const app = buildApi({
    logger: pino({ level: 'silent' }),
    // Never called: only the route table is read.
    service: {} as never,
    rowLocks: {} as never,
    admin: { auth: new AdminAuth([]), store: {} as never, operators: {} as never, now: Date.now },
    defaultTimeoutMs: 1,
    maxTimeoutMs: 1,
    submitWaitMs: 0,
    auth: new CallerAuth([], false),
    opsToken: null,
  });
  const routes: string[] = [];
  app.addHook('onRoute', (route) => {
    if (!API_PREFIXES.some((prefix) => route.url.startsWith(prefix))) return;
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue; // added by Fastify for every GET
      routes.push(`${method} ${route.url.replace(/:([A-Za-z]+)/g, '{$1}')}`);
    }
  });
  await app.ready();
  await app.close();
  return routes.sort();
}

describe('OpenAPI document and /docs', () => {
  let db: TestDatabase;
  let coordinator: InProcessCoordinator;
  let document: OpenApiDocument;

  beforeAll(async () => {
    db = await createTestDatabase(inject('mysqlUrl'), 'openapi');
    coordinator = await startInProcessCoordinator(testEnv(db.url, inject('redisUrl'), uniqueRedisPrefix('openapi')));
    const response = await fetch(`${coordinator.url}/docs/json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    document = (await response.json()) as OpenApiDocument;
  });

  afterAll(async () => {
    await coordinator?.stop();
    await db?.drop();
  });

  it('is a valid OpenAPI 3 document', async () => {
    expect(document.openapi).toMatch(/^3\./);
    expect(document.info).toMatchObject({ title: 'dtx coordinator', version: expect.any(String) });
    // Throws with the list of problems if the document breaks the OpenAPI 3 schema.
    await expect(SwaggerParser.validate(structuredClone(document) as never)).resolves.toBeTruthy();
  });

  it('lists every /v1 and /admin/v1 route the coordinator registers, and no other API route', async () => {
    const documented = Object.entries(document.paths)
      .filter(([path]) => API_PREFIXES.some((prefix) => path.startsWith(prefix)))
      .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`))
      .sort();
    const registered = await registeredApiRoutes();
    expect(registered.length).toBeGreaterThanOrEqual(16);
    expect(documented).toEqual(registered);
    // And the operational endpoints.
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/health', '/metrics']));
  });

  it('tags and summarises every operation, and requires a bearer token on every admin and transaction operation (a participant signature on a row lock)', () => {
    expect(document.components?.securitySchemes).toEqual({
      adminToken: expect.objectContaining({ type: 'http', scheme: 'bearer' }),
      callerToken: expect.objectContaining({ type: 'http', scheme: 'bearer' }),
      participantSignature: expect.objectContaining({ type: 'apiKey', in: 'header', name: 'dtx-signature' }),
    });
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const name = `${method.toUpperCase()} ${path}`;
        expect(operation.summary, name).toEqual(expect.any(String));
        if (path.startsWith('/admin/v1/')) {
          expect(operation.tags, name).toEqual(['admin']);
          expect(operation.security, name).toEqual([{ adminToken: [] }]);
        } else if (path.startsWith('/v1/')) {
          expect(operation.tags, name).toEqual(['transactions']);
          // A branch participant's row lock is signed with its key, not sent with a caller's token.
          const signed = path.endsWith('/locks') && method === 'post';
          expect(operation.security, name).toEqual([signed ? { participantSignature: [] } : { callerToken: [] }]);
        }
      }
    }
  });

  it('describes request bodies with the schemas that validate them', async () => {
    const begin = document.paths['/v1/transactions']?.post?.requestBody?.content['application/json']?.schema;
    expect(begin).toMatchObject({ type: 'object', additionalProperties: false });
    const properties = begin!.properties as Record<string, Record<string, unknown>>;
    expect(Object.keys(properties).sort()).toEqual(Object.keys(BeginBody.properties).sort());
    expect(properties.gid).toMatchObject({ maxLength: BeginBody.properties.gid.maxLength, pattern: BeginBody.properties.gid.pattern });
    // What the document says is refused is refused.
    const refused = await fetch(`${coordinator.url}/v1/transactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...TEST_API_HEADERS },
      body: JSON.stringify({ gid: 'x'.repeat(Number(properties.gid!.maxLength) + 1) }),
    });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ code: 'INVALID_REQUEST' });

    const close = document.paths['/admin/v1/transactions/{gid}/close']?.post?.requestBody?.content['application/json']?.schema;
    expect(close).toMatchObject({ required: ['reason', 'lastResort'], properties: { lastResort: { enum: [true] } } });
  });

  it('calls a body optional exactly where the coordinator accepts none', async () => {
    const optional = ['/v1/transactions', '/v1/transactions/{gid}/submit', '/v1/transactions/{gid}/abort'];
    for (const path of optional) {
      const operation = document.paths[path]?.post;
      expect(operation?.requestBody?.required, path).toBe(false);
      expect(
        Object.keys(operation ?? {}).filter((key) => key.startsWith('x-')),
        path,
      ).toEqual([]);
    }
    expect(document.paths['/v1/transactions/{gid}/branches']?.post?.requestBody?.required).toBe(true);
    expect(document.paths['/admin/v1/transactions/{gid}/close']?.post?.requestBody?.required).toBe(true);
    // What the document says is accepted is accepted: a begin without a body.
    const begun = await fetch(`${coordinator.url}/v1/transactions`, { method: 'POST', headers: TEST_API_HEADERS });
    expect(begun.status).toBe(201);
  });

  it('serves the interactive page with its assets from the coordinator itself', async () => {
    const page = await fetch(`${coordinator.url}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('swagger-ui');
    // No external host: the assets come from the npm package.
    expect(html).not.toMatch(/src="https?:|href="https?:/);
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets).toEqual(expect.arrayContaining(['/docs/static/swagger-ui-bundle.js']));
    for (const asset of assets) {
      const response = await fetch(new URL(asset, coordinator.url));
      expect(response.status, asset).toBe(200);
      await response.arrayBuffer();
    }
    const initializer = await (await fetch(`${coordinator.url}/docs/static/swagger-initializer.js`)).text();
    expect(initializer).toContain('json');
  });
});
