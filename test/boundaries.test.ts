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
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
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

/** The folder under src/ a source belongs to ('' for files directly in src/). */
function folderOf(file: string): string {
  const rel = relative(join(root, 'src'), file).split('/');
  // The entry point sits on top of everything; the other files of src/ are shared helpers below.
  if (rel.length === 1 && rel[0]!.startsWith('main.')) return 'main';
  return rel.length > 1 ? rel[0]! : '';
}

/** Folder-level import graph of src/: folder => folders it imports from (static and dynamic, types included). */
function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of sources(join(root, 'src'))) {
    const from = folderOf(file);
    if (!graph.has(from)) graph.set(from, new Set());
    const text = readFileSync(file, 'utf8');
    const specs = [...text.matchAll(/(?:from\s*|import\s*\(\s*)['"](\.[^'"]+)['"]/g)].map((m) => m[1]!);
    for (const spec of specs) {
      const target = join(dirname(file), spec);
      if (relative(join(root, 'src'), target).startsWith('..')) continue;
      const to = folderOf(target);
      if (to !== from) graph.get(from)!.add(to);
    }
  }
  return graph;
}

/** Every cycle's folders, as 'a -> b -> a' strings. */
export function folderCycles(graph: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open')
        cycles.push([...path.slice(path.indexOf(next)), next].map((f) => f || 'src').join(' -> '));
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

test('folderCycles finds a cycle and accepts a chain', () => {
  assert.deepEqual(
    folderCycles(
      new Map([
        ['a', new Set(['b'])],
        ['b', new Set(['a'])],
      ]),
    ),
    ['a -> b -> a'],
  );
  assert.deepEqual(
    folderCycles(
      new Map([
        ['a', new Set(['b'])],
        ['b', new Set(['c'])],
        ['c', new Set()],
      ]),
    ),
    [],
  );
});

test('imports between src/ folders all point one way: no folder imports from one that imports it back', () => {
  const graph = folderGraph();
  assert.ok(graph.size >= 6, 'found the src folders');
  assert.deepEqual(folderCycles(graph), []);
});
