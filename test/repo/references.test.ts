/**
 * The repository stands on its own: no line cites a document kept outside
 * it, every repository path a line names exists, and every relative
 * markdown link (with its anchor) in docs/ and README.md resolves.
 * Sources are read, not dist/, so that a stale build cannot hide a problem.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// ---- Detectors: pure functions of a line and a view of the repository ----

/** What the detectors need to know about the repository; faked in the unit tests. */
export interface RepoView {
  /** 'file', 'dir', or null when nothing is at this repository-relative path. */
  kind(path: string): 'file' | 'dir' | null;
  /** The heading anchors of a markdown file (GitHub's slugs). */
  anchors(path: string): ReadonlySet<string>;
}

/** Citations of documents kept outside the repository: the contract page, the user's documents, issues. */
const OUTSIDE: readonly RegExp[] = [
  // The word alone, so identifiers such as SPECS or SPEC_TABLE pass.
  /\bSPEC\b/,
  /\b(?:memory_broker_api|broker_http_api)\.md\b/,
  /\bchunk_allocation\.txt\b/,
  // chunk.md only as a bare name: docs/chunk.md would be a path of ours.
  /(?<![\w./-])chunk\.md\b/,
  /\bseed\/[\w.-]/,
  /\bissues? #?\d+/i,
  /\bsteering doc/i,
];

/** The citations of outside documents in one line, as found. */
export function outsideCitations(line: string): string[] {
  const found: string[] = [];
  for (const re of OUTSIDE) {
    const m = re.exec(line);
    if (m) found.push(m[0]);
  }
  return found;
}

/**
 * A repository path: one of the top folders, then path characters, ending
 * on a word character; not inside another path (`/opt/x/dist/src/...`, an
 * import's `../src/...`) or a longer word. An `#anchor` may follow.
 */
const REPO_PATH = /(?<![\w./@~-])((?:src|workers|test|bench|deploy|docs|\.ci)\/[\w./-]*[\w-]|README\.md)(#[\w-]+)?/g;
/** What may follow a path that is a pattern or a template, not a file: `src/**`, `test/${x}`, `a.{js,md}`. */
const PATTERN_TAIL = /^[/.]?[*${<[]/;
/** Compiled output lives in dist/ as .js next to each source .ts. */
const COMPILED_ROOTS = /^(?:src|workers|test|bench)\//;

function isMarkdown(path: string): boolean {
  return path.endsWith('.md');
}

/** The problems with the repository paths one line names; [] when all exist. */
export function brokenPaths(line: string, repo: RepoView): string[] {
  const problems: string[] = [];
  for (const m of line.matchAll(REPO_PATH)) {
    const path = m[1]!;
    const anchor = m[2];
    if (PATTERN_TAIL.test(line.slice(m.index + m[0].length))) continue;
    let kind = repo.kind(path);
    if (kind === null && COMPILED_ROOTS.test(path) && path.endsWith('.js')) kind = repo.kind(`${path.slice(0, -3)}.ts`);
    if (kind === null) {
      problems.push(`${path} does not exist`);
    } else if (
      anchor !== undefined &&
      kind === 'file' &&
      isMarkdown(path) &&
      !repo.anchors(path).has(anchor.slice(1))
    ) {
      problems.push(`${path} has no heading for ${anchor}`);
    }
  }
  return problems;
}

const LINK = /\[[^\]]*\]\(([^)\s]+)\)/g;
const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/**
 * The broken relative links of a markdown text: a missing file or folder,
 * or an anchor that no heading of the target defines. `file` is the
 * repository-relative path of the text itself. Fenced code is skipped.
 */
export function brokenLinks(text: string, file: string, repo: RepoView): string[] {
  const problems: string[] = [];
  forEachProse(text, (line, n) => {
    for (const m of line.matchAll(LINK)) {
      const target = m[1]!;
      if (SCHEME.test(target)) continue;
      const hash = target.indexOf('#');
      const pathPart = hash < 0 ? target : target.slice(0, hash);
      const anchor = hash < 0 ? null : target.slice(hash + 1);
      const path =
        pathPart === '' ? file : posix.normalize(posix.join(posix.dirname(file), pathPart)).replace(/\/$/, '');
      const kind = repo.kind(path);
      if (kind === null || path.startsWith('..')) problems.push(`line ${n}: link to ${target}: ${path} does not exist`);
      else if (anchor !== null && (kind !== 'file' || !isMarkdown(path) || !repo.anchors(path).has(anchor))) {
        problems.push(`line ${n}: link to ${target}: no such heading in ${path}`);
      }
    }
  });
  return problems;
}

/** Calls `visit` for each line of a markdown text outside fenced code, with its 1-based number. */
function forEachProse(text: string, visit: (line: string, n: number) => void): void {
  let fenced = false;
  text.split('\n').forEach((line, i) => {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    else if (!fenced) visit(line, i + 1);
  });
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a markdown text defines; a repeated heading gets -1, -2, ... as on GitHub. */
export function headingAnchors(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  forEachProse(text, (line) => {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) return;
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  });
  return anchors;
}

// ---- The real repository ----

/** The checkout: the nearest folder above this compiled file that has package.json. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

const ROOT = repoRoot();
/** What the checks read; build output, dependencies and git data are not sources. */
const SCANNED = ['src', 'workers', 'test', 'bench', 'deploy', 'docs', 'README.md', 'Makefile', '.ci'];
/** This file holds the offending lines of its own unit tests. */
const SELF = 'test/repo/references.test.ts';

function toRepoPath(absolute: string): string {
  return relative(ROOT, absolute).split(sep).join('/');
}

function walk(absolute: string): string[] {
  if (!existsSync(absolute)) return [];
  if (!statSync(absolute).isDirectory()) return [absolute];
  return readdirSync(absolute).flatMap((name) => walk(join(absolute, name)));
}

const realRepo: RepoView = (() => {
  const anchorCache = new Map<string, ReadonlySet<string>>();
  return {
    kind(path) {
      const absolute = join(ROOT, ...path.split('/'));
      if (!existsSync(absolute)) return null;
      return statSync(absolute).isDirectory() ? 'dir' : 'file';
    },
    anchors(path) {
      let anchors = anchorCache.get(path);
      if (!anchors) anchorCache.set(path, (anchors = headingAnchors(readFileSync(join(ROOT, path), 'utf8'))));
      return anchors;
    },
  };
})();

function sourceFiles(): { path: string; text: string }[] {
  return SCANNED.flatMap((top) => walk(join(ROOT, top)))
    .map(toRepoPath)
    .filter((path) => path !== SELF)
    .sort()
    .map((path) => ({ path, text: readFileSync(join(ROOT, path), 'utf8') }));
}

// ---- The checks ----

test('references: the scan covers the repository', () => {
  const paths = sourceFiles().map((f) => f.path);
  for (const expected of [
    'README.md',
    'Makefile',
    '.ci/run',
    'docs/api.md',
    'src/main.ts',
    'workers/owner.ts',
    'deploy/metabroker.toml',
  ]) {
    assert.ok(paths.includes(expected), `${expected} is scanned`);
  }
  assert.ok(
    !paths.some((p) => p.startsWith('dist/') || p.startsWith('node_modules/')),
    'no build output or dependency',
  );
});

test('references: no line cites a document kept outside the repository', () => {
  const problems: string[] = [];
  for (const { path, text } of sourceFiles()) {
    text.split('\n').forEach((line, i) => {
      for (const citation of outsideCitations(line))
        problems.push(`${path}:${i + 1}: cites "${citation}"; cite docs/ instead`);
    });
  }
  assert.deepEqual(problems, []);
});

test('references: every repository path a line names exists', () => {
  const problems: string[] = [];
  for (const { path, text } of sourceFiles()) {
    text.split('\n').forEach((line, i) => {
      for (const problem of brokenPaths(line, realRepo)) problems.push(`${path}:${i + 1}: ${problem}`);
    });
  }
  assert.deepEqual(problems, []);
});

test('references: every relative markdown link in docs/ and README.md resolves', () => {
  const markdown = sourceFiles().filter(
    (f) => f.path === 'README.md' || (f.path.startsWith('docs/') && isMarkdown(f.path)),
  );
  assert.ok(markdown.length >= 5, 'README.md and the docs are read');
  const problems = markdown.flatMap(({ path, text }) => brokenLinks(text, path, realRepo).map((p) => `${path}: ${p}`));
  assert.deepEqual(problems, []);
});

// ---- The detectors on synthetic lines ----

/** A small repository: a few files and folders, one markdown file with headings. */
const fakeRepo: RepoView = {
  kind(path) {
    const files = ['docs/api.md', 'docs/ops.md', 'docs/guide.md', 'src/domain/types.ts', 'README.md', '.ci/run'];
    const dirs = ['docs', 'src', 'src/domain'];
    return files.includes(path) ? 'file' : dirs.includes(path) ? 'dir' : null;
  },
  anchors(path) {
    if (path === 'docs/api.md') return new Set(['failover', 'error-codes']);
    return path === 'docs/guide.md' ? new Set(['intro']) : new Set();
  },
};

test('outsideCitations: flags the contract page, the user documents and issue numbers', () => {
  // Each line is put together from parts, so that this file itself cites nothing.
  const flagged = [
    ['see ', 'SPEC', ' 10.1'],
    ['status table of ', 'SPEC', ' section 9'],
    ['described in ', 'SPEC', '.md'],
    ['// (', 'SPEC', '; the list)'],
    ['the routes of ', 'broker_http_api', '.md'],
    ['memory_broker_api', '.md says so'],
    ['proof in ', 'chunk_allocation', '.txt'],
    ['see ', 'chunk', '.md'],
    ['kept in ', 'seed', '/notes.md'],
    ['benchmarks (', 'issue', ' 3)'],
    ['fixed for ', 'Issue', ' #12'],
    ['kept with the ', 'steering', ' documents'],
  ].map((parts) => parts.join(''));
  for (const line of flagged) assert.notDeepEqual(outsideCitations(line), [], line);
  const clean = [
    'const SPECS = {',
    'const SPEC_TABLE: Record<number, string[]> = {};',
    'fast-check seed 42 (FUZZ_SEED=42 replays it)',
    'the seeded fleet',
    'see docs/chunk.md',
    'a tissue 3 cm wide',
    'docs/api.md#failover',
  ];
  for (const line of clean) assert.deepEqual(outsideCitations(line), [], line);
});

test('brokenPaths: missing files and anchors are named; patterns, dist and foreign paths are not paths', () => {
  assert.deepEqual(brokenPaths('see docs/api.md#failover and src/domain/types.ts.', fakeRepo), []);
  assert.deepEqual(
    brokenPaths('compiled to src/domain/types.js', fakeRepo),
    [],
    'a .js source path stands for its .ts',
  );
  assert.deepEqual(brokenPaths('`src/domain`: the pure core; src/domain/** only', fakeRepo), [], 'folders and globs');
  assert.deepEqual(brokenPaths('run .ci/run, README.md, `test/${name}.ts`, docs/api.{md,html}', fakeRepo), []);
  assert.deepEqual(
    brokenPaths('node /opt/x/dist/src/main.js; import("../../src/nope.js"); dist/bench/run.js', fakeRepo),
    [],
  );
  assert.deepEqual(brokenPaths('see docs/xyz.md', fakeRepo), ['docs/xyz.md does not exist']);
  assert.deepEqual(brokenPaths('results in bench/results/latest.md.', fakeRepo), [
    'bench/results/latest.md does not exist',
  ]);
  assert.deepEqual(brokenPaths("findRepoFile('deploy/x.service')", fakeRepo), ['deploy/x.service does not exist']);
  assert.deepEqual(brokenPaths('src/domain/gone.ts and src/domain/gone.js', fakeRepo), [
    'src/domain/gone.ts does not exist',
    'src/domain/gone.js does not exist',
  ]);
  assert.deepEqual(brokenPaths('docs/api.md#nowhere', fakeRepo), ['docs/api.md has no heading for #nowhere']);
});

test('brokenLinks: relative links must reach a file and a heading; code fences and URLs are skipped', () => {
  const text = [
    'See [the API](api.md#failover), [codes](api.md#error-codes), [ops](./ops.md) and [root](../README.md).',
    '[web](https://example.com/x.md) [folder](../src/domain)',
    '```',
    '[not a link](nowhere.md)',
    '```',
    '[gone](missing.md) [bad anchor](api.md#nope) [here](#intro) [nowhere](#nothing)',
  ].join('\n');
  assert.deepEqual(brokenLinks(text, 'docs/guide.md', fakeRepo), [
    'line 6: link to missing.md: docs/missing.md does not exist',
    'line 6: link to api.md#nope: no such heading in docs/api.md',
    'line 6: link to #nothing: no such heading in docs/guide.md',
  ]);
  assert.deepEqual(brokenLinks('[up](../../outside.md)', 'docs/guide.md', fakeRepo), [
    'line 1: link to ../../outside.md: ../outside.md does not exist',
  ]);
});

test('slug and headingAnchors: GitHub anchors, repeated headings numbered', () => {
  assert.equal(slug('Running it unattended (systemd)'), 'running-it-unattended-systemd');
  assert.equal(slug('Chunks, roles and slots'), 'chunks-roles-and-slots');
  assert.equal(slug('`PUT /metadata` errors'), 'put-metadata-errors');
  const anchors = headingAnchors(
    ['# Title', '## Errors', 'text', '```', '## Not a heading', '```', '### Errors'].join('\n'),
  );
  assert.deepEqual([...anchors], ['title', 'errors', 'errors-1']);
});
