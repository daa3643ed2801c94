// Build step after tsc: copies the operator console's static files next to the compiled API
// (dist/console/), where api/console-routes finds them relative to its own module, as from source.
// Plain JavaScript so that it runs on node before anything is built.
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { URL } from 'node:url';

const from = new URL('../console/', import.meta.url);
const to = new URL('../dist/console/', import.meta.url);
mkdirSync(to, { recursive: true });
for (const name of readdirSync(from)) {
  // tsconfig.json only type-checks the console's JavaScript; the browser never asks for it.
  if (name !== 'tsconfig.json') cpSync(new URL(name, from), new URL(name, to));
}
