/**
 * Node flags the coordinator runs with, wherever it is started (`dtx start`
 * and npm start, the demo and chaos clusters, the benchmark); exported alone
 * as `@dtx/coordinator/runtime`, so a launcher need not load the coordinator.
 * Its live heap stays near 50 MB under load (docs/performance.md); without a
 * cap V8 lets the heap grow to ~200 MB between full collections. 128 MB keeps
 * the process under 200 MB RSS at no measured CPU cost. package.json's
 * `start` repeats it.
 */
export const COORDINATOR_NODE_ARGS: readonly string[] = ['--max-old-space-size=128'];
