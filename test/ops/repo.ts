/** Locating files of the repository from a compiled test, whatever its output folder. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Walks up from this file until `relative` exists; fails the test clearly if it never does. */
export function findRepoFile(relative: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, relative);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`${relative} not found above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}
