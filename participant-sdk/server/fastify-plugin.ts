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
import type { Participant } from '../participant.ts';

export interface DtxParticipantPluginOptions {
  participant: Participant;
  /** Mount point, handled by Fastify's `register` (e.g. '/dtx'). */
  prefix?: string;
}

export const dtxParticipantPlugin: FastifyPluginAsync<DtxParticipantPluginOptions> = async (app, options) => {
  const { participant } = options;
  app.removeAllContentTypeParsers();
  // Any content type, kept as the raw string: the participant parses JSON after checking the signature.
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  app.post<{ Params: { resource: string; op: string } }>('/:resource/:op', async (request, reply) => {
    const answer = await participant.handle({
      method: request.method,
      path: `/${request.params.resource}/${request.params.op}`,
      headers: request.headers,
      rawBody: typeof request.body === 'string' ? request.body : '',
    });
    const { statusCode, text } = encodeReply(answer);
    return reply.code(statusCode).type('application/json; charset=utf-8').send(text);
  });
};
