#!/usr/bin/env node
// The `metabroker` command of package.json's bin. A committed file, so that it
// stays executable whatever built dist/ (make build, or npx tsc -p tsconfig.json).
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('metabroker is not built yet: run `make build` (or `npx tsc -p tsconfig.json`) in its folder\n');
  process.exit(2);
}
await import(main.href);
