/**
 * The operator console (coordinator/console/): a static page and its plain
 * ES modules, served by the coordinator itself — no build step, nothing
 * fetched from elsewhere at runtime. The page talks to the admin API with
 * the token the operator types in.
 *
 * Files are read once at start and served from memory with an ETag; the
 * browser revalidates on every load (`no-cache`), so a new release is picked
 * up at once and an unchanged file costs a 304. The content security policy
 * allows only this origin's scripts, styles and API: no inline script runs.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';

const CONSOLE_DIR = new URL('../console/', import.meta.url);

const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

/** Every file the console consists of; nothing else under /console is served. */
const FILES = ['index.html', 'console.js', 'api.js', 'actions.js', 'detail.js', 'dom.js', 'console.css'] as const;

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

interface StaticFile {
  body: Buffer;
  contentType: string;
  etag: string;
}

async function loadFiles(): Promise<Map<string, StaticFile>> {
  const files = new Map<string, StaticFile>();
  for (const name of FILES) {
    const body = await readFile(new URL(name, CONSOLE_DIR));
    const extension = name.slice(name.lastIndexOf('.') + 1);
    const contentType = CONTENT_TYPES[extension];
    if (!contentType) throw new Error(`console file ${name} has no known content type`);
    files.set(name, { body, contentType, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  return files;
}

function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(',').some((candidate) => {
    const tag = candidate.trim().replace(/^W\//, '');
    return tag === etag || tag === '*';
  });
}

export const consoleRoutes: FastifyPluginAsync = async (app) => {
  const files = await loadFiles();

  const send = (file: StaticFile, request: FastifyRequest, reply: FastifyReply) => {
    void reply.headers({ ...SECURITY_HEADERS, etag: file.etag, 'cache-control': 'no-cache' });
    if (matches(request.headers['if-none-match'], file.etag)) return reply.status(304).send();
    return reply.type(file.contentType).send(file.body);
  };

  // Static files are not part of the API document (/docs).
  const hidden = { schema: { hide: true } };

  // Relative links in the page (and the API at ../admin/v1/) resolve against /console/.
  app.get('/console', hidden, async (_request, reply) => reply.redirect('console/', 302));

  app.get('/console/', hidden, async (request, reply) => send(files.get('index.html')!, request, reply));

  app.get<{ Params: { file: string } }>('/console/:file', hidden, async (request, reply) => {
    const file = files.get(request.params.file);
    if (!file) return reply.callNotFound();
    return send(file, request, reply);
  });
};
