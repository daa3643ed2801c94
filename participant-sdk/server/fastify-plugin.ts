/**
 * Fastify 5 adapter: `app.register(dtxParticipantPlugin, { participant, prefix: '/dtx' })`
 * serves `POST /dtx/<resource>/<op>`.
 *
 * The signature covers the exact body bytes, so the body must reach the
 * participant unparsed. The plugin is deliberately not wrapped with
 * fastify-plugin: its content-type parsers stay inside its own encapsulation
 * context and the host application's parsers are untouched.
 */
import type { FastifyPluginAsync } from 'fastify';
import { encodeReply } from '../branch-reply.ts';
import { errorReply } from '../incoming-call.ts';
import type { Participant } from '../participant.ts';

/** Options of {@link dtxParticipantPlugin}. */
export interface DtxParticipantPluginOptions {
  /** The participant to serve (createParticipant). */
  participant: Participant;
  /** Mount point, handled by Fastify's `register` (e.g. '/dtx'). */
  prefix?: string;
}

/**
 * Fastify 5 plugin serving a participant at `POST <prefix>/<resource>/<op>`:
 * the way to put a participant on an existing Fastify application. It keeps
 * bodies as raw text inside its own encapsulation context (the signature
 * covers the exact bytes), so the host application's parsers are untouched;
 * errors Fastify raises before the handler are answered in the participant's
 * reply shape, never as success.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { dtxParticipantPlugin } from '@dtx/participant-sdk';
 *
 * const app = Fastify();
 * await app.register(dtxParticipantPlugin, { participant, prefix: '/dtx' });   // POST /dtx/debit/{try,confirm,cancel}
 * await app.listen({ port: 4001 });
 * ```
 */
export const dtxParticipantPlugin: FastifyPluginAsync<DtxParticipantPluginOptions> = async (app, options) => {
  const { participant } = options;
  app.removeAllContentTypeParsers();
  // Any content type, kept as the raw string: the participant parses JSON after checking the signature.
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  // Inside this plugin only: errors Fastify raises before the handler (a body over its limit, a
  // stream that breaks) are answered in the participant's shape, never as success.
  app.setErrorHandler((error: { statusCode?: number }, _request, reply) => {
    const answer =
      error.statusCode === 413
        ? errorReply(413, 'BODY_TOO_LARGE', 'the body exceeds the server body limit')
        : error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500
          ? errorReply(400, 'BAD_REQUEST', 'the request could not be read')
          : errorReply(500, 'HANDLER_ERROR', 'the participant failed');
    const { statusCode, text } = encodeReply(answer);
    return reply.code(statusCode).type('application/json; charset=utf-8').send(text);
  });

  // Every method: the participant answers anything but POST with 405 itself.
  app.all<{ Params: { resource: string; op: string } }>('/:resource/:op', async (request, reply) => {
    const answer = await participant.handle({
      method: request.method,
      path: `/${request.params.resource}/${request.params.op}`,
      fullPath: request.url,
      headers: request.headers,
      rawBody: typeof request.body === 'string' ? request.body : '',
    });
    const { statusCode, text } = encodeReply(answer);
    return reply.code(statusCode).type('application/json; charset=utf-8').send(text);
  });
};
