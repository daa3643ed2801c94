/**
 * Authentication of the transaction API (/v1): every calling service sends
 * its bearer token (DTX_API_TOKENS); the token's name becomes the caller
 * recorded on the transactions it begins and in their history. Anonymous
 * calls pass only in insecure development mode, and only without a token:
 * a wrong token is refused there too.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiToken } from '../config.ts';
import { BearerTokens } from '../security/bearer-tokens.ts';

/**
 * Who a `/v1` request is (a DTX_API_TOKENS holder), for createServer's `auth`:
 * `new CallerAuth(config.apiTokens, config.insecure)`; the second argument lets
 * anonymous calls through (development only).
 */
export class CallerAuth {
  readonly #tokens: BearerTokens<string>;

  constructor(
    tokens: readonly ApiToken[],
    private readonly anonymousAllowed: boolean,
  ) {
    this.#tokens = new BearerTokens(tokens.map((t) => ({ token: t.token, holder: t.name })));
  }

  /** An `onRequest` hook: refused before the body is read or validated. */
  readonly hook = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const authorization = request.headers.authorization;
    const caller = this.#tokens.identify(authorization);
    if (caller !== null) {
      request.caller = caller;
      return;
    }
    if (this.anonymousAllowed && authorization === undefined) {
      request.caller = null;
      return;
    }
    await reply
      .status(401)
      .header('www-authenticate', 'Bearer')
      .send({ code: 'UNAUTHENTICATED', message: 'a valid bearer token of a calling service (DTX_API_TOKENS) is required' });
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated calling service of a /v1 request; null when anonymous (development mode). */
    caller?: string | null;
  }
}
