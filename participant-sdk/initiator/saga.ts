/**
 * The initiator's side of a saga: a typed builder of its steps, submitted
 * whole to the coordinator, which then runs every action (in order, or by
 * the steps' dependencies) and compensates what ran if one fails.
 *
 *   const outcome = await dtx
 *     .saga({ timeoutMs: 30_000 })
 *     .step('debit', { url: 'http://bank-a/dtx/debit', payload: { account, amount } })
 *     .step('credit', { url: 'http://bank-b/dtx/credit', payload: { account, amount } })
 *     .submit();
 *   // outcome.status: 'succeeded' | 'compensated' | 'running' | 'compensating'
 */
import { isValidBranchId } from '@dtx/protocol';
import { DtxError } from '../errors.ts';
import type { CoordinatorClient } from './coordinator-client.ts';

/**
 * A saga's status on the coordinator: `running` while its actions run (and
 * are retried); `compensating` once one failed and what ran is being undone;
 * `succeeded` or `compensated` when done.
 */
export type SagaStatus = 'running' | 'compensating' | 'succeeded' | 'compensated';

/** One call of a step: where the coordinator POSTs it, and the JSON body. */
export interface SagaCall {
  url: string;
  payload?: unknown;
}

/**
 * One step: a resource URL served by this SDK (`<url>/action`,
 * `<url>/compensate`, one payload for both), or its two calls spelled out.
 */
export type SagaStepTarget = ({ url: string; payload?: unknown } | { action: SagaCall; compensate: SagaCall }) & SagaStepOptions;

/** Options of one step. */
export interface SagaStepOptions {
  /** The steps whose actions must succeed before this one runs. Default: the step added before it; `[]` to run it at once. */
  dependsOn?: string[];
  /**
   * Calls of the action after the first that may not succeed (unknown replies, timeouts, and `425` still-working
   * answers alike) before the saga gives up and compensates. Default: retried until the saga's deadline.
   */
  retryLimit?: number;
  /** Timeout of one call to this step, at most the coordinator's branch timeout. */
  timeoutMs?: number;
}

/** Options of one saga. */
export interface SagaOptions {
  /** Choose the gid (default: a time-ordered UUID). Submitting the same gid again is safe. */
  gid: string;
  /** The actions' deadline: a saga still running after it is compensated. Default: the coordinator's. */
  timeoutMs?: number;
  /** Reason recorded with the submit. */
  reason?: string;
}

/** Where a submitted saga stands. */
export interface SagaOutcome {
  gid: string;
  /** `succeeded` / `compensated` once finished; `running` / `compensating` if the wait ended first (query the gid later). */
  status: SagaStatus;
  /** False when this gid had been submitted before (a re-send): the status is that saga's. */
  created: boolean;
}

interface WireStep extends SagaStepOptions {
  id: string;
  action: SagaCall;
  compensate: SagaCall;
}

/** A saga being put together: add steps, then {@link Saga.submit}. Made by `DtxClient.saga`. */
export class Saga {
  readonly #steps: WireStep[] = [];

  /** @internal */
  constructor(
    private readonly coordinator: CoordinatorClient,
    private readonly options: SagaOptions,
  ) {}

  /** The saga's id. */
  get gid(): string {
    return this.options.gid;
  }

  /**
   * Add a step.
   *
   * @param id - the step's id within the saga ([A-Za-z0-9_.-], 1..64); other steps name it in `dependsOn`
   * @param target - a resource URL and payload, or the action and compensation spelled out; and the step's options
   * @returns this saga, to add more steps
   * @throws DtxError `INVALID_STEP` for a malformed or repeated id
   */
  step(id: string, target: SagaStepTarget): this {
    if (!isValidBranchId(id)) throw new DtxError('INVALID_STEP', `step id ${JSON.stringify(id)} must be 1-64 characters of [A-Za-z0-9_.-]`);
    if (this.#steps.some((step) => step.id === id)) throw new DtxError('INVALID_STEP', `step ${id} is added twice`);
    const { dependsOn, retryLimit, timeoutMs } = target;
    const calls =
      'url' in target
        ? {
            action: { url: `${target.url.replace(/\/+$/, '')}/action`, payload: target.payload ?? null },
            compensate: { url: `${target.url.replace(/\/+$/, '')}/compensate`, payload: target.payload ?? null },
          }
        : { action: target.action, compensate: target.compensate };
    this.#steps.push({ id, ...calls, dependsOn, retryLimit, timeoutMs });
    return this;
  }

  /**
   * Submit the saga. The coordinator logs it and runs it whatever happens to
   * this process; submitting the same gid and steps again is safe (the
   * answer is that saga's status), and refused once it was compensated.
   *
   * @param options - `wait: false` to return as soon as the saga is logged, or how long to wait for its outcome (default: the coordinator's submit wait)
   * @returns the gid and the status when the wait ended
   * @throws CoordinatorRefusedError (`INVALID_STEPS`, `GID_CONFLICT`, `ILLEGAL_STATE` for a compensated gid, …);
   *   CoordinatorUnavailableError when the coordinator cannot be reached (submit the same gid again)
   */
  async submit(options: { wait?: boolean; waitMs?: number } = {}): Promise<SagaOutcome> {
    const waitMs = options.wait === false ? 0 : options.waitMs;
    const reply = await this.coordinator.submitSaga({
      gid: this.gid,
      timeoutMs: this.options.timeoutMs,
      reason: this.options.reason,
      waitMs,
      steps: this.#steps,
    });
    return { gid: reply.gid, status: reply.status, created: reply.created };
  }
}
