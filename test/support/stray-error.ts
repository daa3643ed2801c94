/**
 * Test only, loaded into a coordinator process with `--import`: on SIGUSR2
 * it raises an error nothing catches, to see how the process ends.
 * DTX_TEST_STRAY chooses which: `rejection` (the default) rejects a
 * promise nobody awaits, `exception` throws from a timer callback.
 */

/** The message of the stray error, to find it in the log. */
export const STRAY_ERROR_MESSAGE = 'stray error raised by test/support/stray-error.ts';

process.on('SIGUSR2', () => {
  if (process.env['DTX_TEST_STRAY'] === 'exception') {
    setTimeout(() => {
      throw new Error(STRAY_ERROR_MESSAGE);
    }, 0);
  } else {
    void Promise.reject(new Error(STRAY_ERROR_MESSAGE));
  }
});
