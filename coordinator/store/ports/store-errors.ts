/**
 * The errors every store throws when its database is not there for a
 * request, whatever the database: the engine and the API know these, never a
 * driver's. Each store classifies its own driver's errors (store/<name>/),
 * so an outage of any log is a 503 with the same codes.
 */

/** How the log database is unavailable. */
export type StoreOutageKind =
  /** No connection could be made (refused, host unreachable, handshake failed). */
  | 'unreachable'
  /** An open connection died under a request (reset, killed, server gone). */
  | 'connection-lost'
  /** No connection or no answer within the bound (pool acquire, connect, statement). */
  | 'timeout'
  /** The server refuses more connections. */
  | 'overloaded'
  /** The server is shutting down. */
  | 'shutting-down'
  /** A deadlock, lock-wait timeout or serialization failure that outlasted the store's own re-runs. */
  | 'conflict'
  /** The server is read-only, as a primary is during a failover. */
  | 'read-only';

/**
 * The log database did not serve an operation: not now, rather than not
 * this request. The operation may have happened (a commit sent before the
 * connection was lost): callers re-send, which every operation allows.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(
    readonly kind: StoreOutageKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The log database did not answer in time: a store's own bound on waiting
 * for a connection or on a statement ran out. `sent` tells whether the
 * statements were handed to the server: when false they waited for a
 * connection (or were refused by a connection already closed for a timeout)
 * and nothing of them can commit; when true the connection was closed under
 * them, and a COMMIT (or an autocommit statement) the server had received
 * may still commit once the server runs again.
 */
export class StatementTimeoutError extends Error {
  override readonly name = 'StatementTimeoutError';
  constructor(
    readonly timeoutMs: number,
    readonly sent: boolean,
    options?: { cause?: unknown },
  ) {
    super(
      sent
        ? `the log database did not answer within ${timeoutMs} ms; the connection was closed`
        : `the log database gave no connection within ${timeoutMs} ms; nothing was sent`,
      options,
    );
  }
}

/** Node's socket and resolver errors: the same codes whatever the driver that passes them on. */
const SOCKET_OUTAGES: ReadonlyMap<string, StoreOutageKind> = new Map<string, StoreOutageKind>([
  ['ECONNREFUSED', 'unreachable'],
  ['EHOSTUNREACH', 'unreachable'],
  ['ENETUNREACH', 'unreachable'],
  ['EAI_AGAIN', 'unreachable'],
  ['ENOTFOUND', 'unreachable'],
  ['ECONNRESET', 'connection-lost'],
  ['ECONNABORTED', 'connection-lost'],
  ['EPIPE', 'connection-lost'],
  ['ETIMEDOUT', 'timeout'],
]);

/** The outage a socket error's `code` means, or undefined for any other code. */
export function socketOutageKind(code: unknown): StoreOutageKind | undefined {
  return typeof code === 'string' ? SOCKET_OUTAGES.get(code) : undefined;
}

/** How deep `cause` chains (and the errors of an AggregateError) are followed. */
const MAX_CAUSE_DEPTH = 4;

/**
 * A store's outage classification: `own` says what only its driver knows
 * (its server's error numbers, its typed errors) — a kind, null for an error
 * it knows is not an outage (a bug, a refused statement: not for a retry),
 * undefined for one it does not recognise. Around it, what every store
 * shares: the engine's own StoreUnavailableError, a store's StatementTimeoutError, Node's socket codes, and
 * the causes (`cause`, an AggregateError's `errors`) followed a few levels
 * down. Never reads message text.
 */
export function outageClassifier(own: (error: object) => StoreOutageKind | null | undefined): (error: unknown) => StoreOutageKind | null {
  const classify = (error: unknown, depth: number): StoreOutageKind | null => {
    if (typeof error !== 'object' || error === null || depth > MAX_CAUSE_DEPTH) return null;
    if (error instanceof StoreUnavailableError) return error.kind;
    if (error instanceof StatementTimeoutError) return 'timeout';
    const known = own(error);
    if (known !== undefined) return known;
    const { code, cause, errors } = error as { code?: unknown; cause?: unknown; errors?: unknown };
    const bySocket = socketOutageKind(code);
    if (bySocket) return bySocket;
    for (const inner of [cause, ...(Array.isArray(errors) ? errors : [])]) {
      const kind = classify(inner, depth + 1);
      if (kind) return kind;
    }
    return null;
  };
  return (error) => classify(error, 0);
}

/**
 * What a store throws for `error`, given its classification: the engine's
 * StoreUnavailableError for an outage (`what` names the log in its message),
 * the error itself otherwise.
 */
export function translateOutage(error: unknown, classify: (error: unknown) => StoreOutageKind | null, what: string): unknown {
  if (error instanceof StoreUnavailableError) return error;
  const kind = classify(error);
  if (kind === null) return error;
  return new StoreUnavailableError(kind, `${what} is unavailable (${kind})`, { cause: error });
}

/**
 * `target` with each of its methods (own and inherited, up to Object) made
 * to throw `translate(error)` instead of what it threw: how a store turns
 * its driver's errors into the engine's at its boundary, once, whatever the
 * method. Precondition: the methods return promises (a port's operations do).
 *
 * @param target - a store implementation
 * @param translate - the store's classification: a StoreUnavailableError for an outage, else the error itself
 * @returns an object with the same methods, to be used through the port's type
 */
export function translatingErrors<T extends object>(target: T, translate: (error: unknown) => unknown): T {
  const wrapped: Record<string, unknown> = {};
  for (let proto: object | null = target; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === 'constructor' || name in wrapped) continue;
      const descriptor = Object.getOwnPropertyDescriptor(proto, name);
      if (typeof descriptor?.value !== 'function') continue;
      const method = descriptor.value as (...args: unknown[]) => Promise<unknown>;
      wrapped[name] = async (...args: unknown[]) => {
        try {
          return await method.apply(target, args);
        } catch (error) {
          throw translate(error);
        }
      };
    }
  }
  return wrapped as T;
}
