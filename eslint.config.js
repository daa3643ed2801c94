// ESLint 9 flat config: `npm run lint` (run by `npm test`). Rules follow the project's present style;
// every rule turned off or tuned says why. No formatter here: formatting will land on its own.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

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
  {
    // The operator console: plain browser ES modules, type-checked from JSDoc by `tsc -p coordinator/console` against lib DOM.
    files: ['coordinator/console/*.js'],
    rules: {
      // tsc (checkJs, lib DOM) already reports undefined names with the browser's real globals, as it does for the .ts files.
      'no-undef': 'off',
    },
  },
);
