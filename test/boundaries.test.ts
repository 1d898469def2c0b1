import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/** The checkout: the nearest folder above this compiled file that has package.json. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

const root = repoRoot();
const domain = join(root, 'src', 'domain');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

test('src/domain imports only src/domain: no HTTP, thread, file or network code', () => {
  const files = sources(domain);
  assert.ok(files.length > 10, 'found the domain sources');
  const offenders: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:import|export)[^'"]*from\s*['"]([^'"]+)['"]/g)) {
      const spec = m[1]!;
      const local = spec.startsWith('.') && !relative(domain, join(file, '..', spec)).startsWith('..');
      if (!local) offenders.push(`${relative(root, file)} imports ${spec}`);
    }
  }
  assert.deepEqual(offenders, []);
});
