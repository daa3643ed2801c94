/**
 * `dtx start` (`npm start`): runs one coordinator from environment variables
 * until SIGINT or SIGTERM, then stops gracefully (serve.ts).
 */
import { ConfigError, loadConfig } from './config.ts';
import { serve } from './serve.ts';

let config;
try {
  config = loadConfig(process.env);
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`dtx coordinator: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}

await serve(config);
