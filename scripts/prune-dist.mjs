#!/usr/bin/env node
/**
 * Run before an incremental `tsc`: removes compiled files whose source no
 * longer exists, so a deleted module or test never lingers in dist/ (and
 * `make test`, which runs every dist/test/**.test.js, never runs one).
 * tsc's incremental state is dropped when an emitted file is missing, since
 * tsc would otherwise trust it and not emit that file again.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOTS = ['src', 'workers', 'test', 'bench'];
const DIST = 'dist';
const BUILD_INFO = join(DIST, '.tsbuildinfo');
const COMPILED = /\.(js|js\.map|d\.ts)$/;

function* files(dir) {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else yield path;
  }
}

let removed = 0;
for (const root of ROOTS) {
  for (const compiled of files(join(DIST, root))) {
    if (!COMPILED.test(compiled)) continue;
    const source = relative(DIST, compiled).replace(COMPILED, '.ts');
    if (existsSync(source)) continue;
    rmSync(compiled);
    removed += 1;
  }
}

let missing = false;
for (const root of ROOTS) {
  for (const source of files(root)) {
    if (!source.endsWith('.ts') || source.endsWith('.d.ts')) continue;
    if (!existsSync(join(DIST, source.replace(/\.ts$/, '.js')))) missing = true;
  }
}
if (missing) rmSync(BUILD_INFO, { force: true });
if (removed > 0) console.log(`prune-dist: removed ${removed} compiled file(s) of deleted sources`);
