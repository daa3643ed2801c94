/**
 * Bearer-token authentication of the admin API. A missing or unknown token
 * is 401; a viewer asking to act is 403. Tokens are compared in constant
 * time and never logged.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AdminToken } from '../config.ts';
import type { Operator } from '../engine/operator-service.ts';
import { BearerTokens } from '../security/bearer-tokens.ts';

/** Who an admin API or console request is (a DTX_ADMIN_TOKENS holder), for createServer's `admin.auth`. */
export class AdminAuth {
  readonly #tokens: BearerTokens<Operator>;

  constructor(tokens: AdminToken[]) {
    this.#tokens = new BearerTokens(tokens.map((t) => ({ token: t.token, holder: { name: t.name, role: t.role } })));
  }

  /** The operator a request authenticates as, or null. */
  identify(request: FastifyRequest): Operator | null {
    return this.#tokens.identify(request.headers.authorization);
  }

  /**
   * A hook requiring at least `role`. Use it as `onRequest`, so that a
   * request without the right token is refused before its input is even
   * parsed or validated (an unauthenticated caller learns nothing from 400s).
   */
  require(role: Operator['role']) {
    return async (request: FastifyRequest, reply: FastifyReply) => {
      const operator = this.identify(request);
      if (!operator) {
        return reply.status(401).header('www-authenticate', 'Bearer').send({ code: 'UNAUTHENTICATED', message: 'a valid admin bearer token is required' });
      }
      if (role === 'operator' && operator.role !== 'operator') {
        return reply.status(403).send({ code: 'FORBIDDEN', message: `${operator.name} is a viewer; this action needs the operator role` });
      }
      request.operator = operator;
    };
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    operator?: Operator;
  }
}
