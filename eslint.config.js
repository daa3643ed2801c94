// ESLint 9 flat config: `npm run lint` (run by `npm test`). Rules follow the project's present style;
// every rule turned off or tuned says why. No formatter here: formatting will land on its own.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** Database drivers and query builders: only a store folder (coordinator/store/<name>/) may import them. */
const DATABASE_IMPORTS = [
  { group: ['knex', 'mysql2', 'mysql2/*', 'pg', 'pg-*', '@electric-sql/*'], message: 'only coordinator/store/<name>/ talks to a database' },
];
const STORE_MESSAGE = 'use the store ports (coordinator/store/ports/); only coordinator.ts and store/open-log.ts pick an implementation';
const PURE_MESSAGE = 'the domain and the modes are pure decisions: no I/O, no framework, no layer that does I/O';
const SIBLING_MESSAGE = 'a store implementation is on its own: share code through store/ports/ or a neutral module, not another store';
const SDK_MESSAGE = 'the participant SDK never imports the coordinator: share through @dtx/protocol';

export default defineConfig(
  // The git-ignored output folders (coverage/ and the packages' dist/ hold generated JS); docs/ holds no code, and the two root configs are linted too.
  { ignores: ['node_modules/', '.tmp/', '.tmp-chaos/', 'coverage/', '**/dist/'] },
  js.configs.recommended,
  // Not the type-checked set: it needs the whole program built (the lint took 38 s instead of 9 s on 2 cores), and tsc already runs in `npm test`.
  tseslint.configs.recommended,
  {
    rules: {
      // A leading underscore marks a parameter or binding kept on purpose (a signature's shape, a field left out of a rest copy).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  // Layers, enforced: which folder may import which (docs/architecture.md, "Layers").
  {
    // Above the stores, nothing knows a database: not a driver, not knex, not a store implementation. Each store
    // folder (coordinator/store/<name>/) classifies its own driver's errors; the rest sees only store/ports/.
    files: ['coordinator/{api,engine,domain,modes,recovery,metrics,alerts,security,branch-client}/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [...DATABASE_IMPORTS, { group: ['**/store/*/**', '!**/store/ports/**', '**/store/open-log*'], message: STORE_MESSAGE }] },
      ],
    },
  },
  {
    // The domain and the modes' rules are pure: no I/O, no framework, nothing of the layers that do I/O.
    files: ['coordinator/{domain,modes}/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...DATABASE_IMPORTS,
            { group: ['**/store/*/**', '!**/store/ports/**', '**/store/open-log*'], message: STORE_MESSAGE },
            { group: ['**/engine/**', '**/api/**', '**/recovery/**', '**/branch-client/**', '**/metrics/**', '**/alerts/**'], message: PURE_MESSAGE },
            { group: ['fastify', 'bullmq', 'ioredis', 'undici', 'node:http', 'node:net', 'node:fs', 'node:fs/*'], message: PURE_MESSAGE },
          ],
        },
      ],
    },
  },
  {
    // Store implementations stand side by side: none reaches into another.
    files: ['coordinator/store/mysql/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/store/postgres/**', '**/store/embedded/**', 'pg', '@electric-sql/*'], message: SIBLING_MESSAGE }] },
      ],
    },
  },
  {
    files: ['coordinator/store/postgres/**/*.ts', 'coordinator/store/embedded/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/store/mysql/**', 'knex', 'mysql2', 'mysql2/*'], message: SIBLING_MESSAGE }] }] },
  },
  {
    // What services install never pulls the coordinator in, and the wire contract depends on nothing of dtx.
    files: ['participant-sdk/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/coordinator/**', '@dtx/coordinator', '@dtx/coordinator/*'], message: SDK_MESSAGE }] }],
    },
  },
  {
    files: ['protocol/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/coordinator/**', '**/participant-sdk/**', '@dtx/*'],
              message: 'the protocol package depends on nothing of dtx: both sides import it',
            },
          ],
        },
      ],
    },
  },
  {
    // The operator console: plain browser ES modules, type-checked from JSDoc by `tsc -p coordinator/console` against lib DOM.
    files: ['coordinator/console/*.js'],
    rules: {
      // tsc (checkJs, lib DOM) already reports undefined names with the browser's real globals, as it does for the .ts files.
      'no-undef': 'off',
    },
  },
);
