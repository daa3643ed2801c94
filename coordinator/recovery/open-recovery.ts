/** The one place that picks the recovery backend a configuration names (DTX_SCHEDULER). */
import type { Logger } from 'pino';
import type { CoordinatorConfig } from '../config.ts';
import { openBullmqRecovery } from './bullmq-recovery.ts';
import { InProcessRecovery } from './in-process-recovery.ts';
import type { RecoveryBackend } from './recovery-backend.ts';

/** Opens the backend `config.scheduler` names: BullMQ on DTX_REDIS_URL, or in-process timers. */
export function openRecovery(
  config: Pick<CoordinatorConfig, 'scheduler' | 'redisUrl' | 'redisPrefix' | 'workerConcurrency'>,
  deps: { now: () => number; logger: Logger },
): RecoveryBackend {
  if (config.scheduler === 'in-process') return new InProcessRecovery({ concurrency: config.workerConcurrency, ...deps });
  return openBullmqRecovery({ redisUrl: config.redisUrl, prefix: config.redisPrefix, concurrency: config.workerConcurrency, ...deps });
}
