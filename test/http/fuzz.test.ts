/**
 * HTTP fuzzing against the real server (uWS + ThreadedBackend): random
 * requests across every route of the table, sent raw over one keep-alive
 * connection so that paths fetch would rewrite (dot segments, raw unicode,
 * invalid UTF-8, bad percent-encoding) reach the server as generated.
 *
 * For every request: no 5xx; every non-2xx answer is JSON with an `error`
 * code; a rejected write leaves GET /metadata byte-identical. Accepted
 * writes may change the state (the baseline moves); the starting state is put
 * back every RESEED cases so that routes keep real targets, after checking
 * that the state reached can be written back with PUT /metadata.
 *
 * FUZZ_SEED=<n> replays a run; FUZZ_RUNS=<n> changes the count.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ROUTES } from '../../src/http/routes.js';
import type { BodyKind } from '../../src/http/routes.js';
import { addProxies, metadataText, ok, okJson, proxyAddr, startThreadedTestServer } from '../helpers/http.js';
import type { TestServer } from '../helpers/http.js';
import { RawConnection, requestBytes } from '../helpers/raw-http.js';
import type { RawAnswer, RawRequest } from '../helpers/raw-http.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
const RESEED = 500;
const MiB = 1024 * 1024;
const METADATA = '/api/v2/metadata';

/** Methods uWS parses; it drops the connection, unanswered, on any other. */
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT'];
/**
 * uWS also drops, unanswered, a connection whose request head outgrows its
 * buffer: 64 KiB on a reused connection, less when the tail of an earlier
 * body is still buffered, more on a fresh one. Long segments are generated
 * well below (answered) or above (dropped) that fuzzy bound.
 */
const UWS_MAX_HEAD = 32_768;

// ---- The seeded fleet: real targets for the routes ----

const HOSTS = 5;
const PER_HOST = 3;
const PROXIES = Array.from({ length: HOSTS * PER_HOST }, (_, i) =>
  proxyAddr(1 + Math.floor(i / PER_HOST), 1 + (i % PER_HOST)),
);
const CLUSTERS = ['fuzzdb', 'movingdb'];

/** 15 proxies on 5 hosts; `fuzzdb` (8 nodes) and `movingdb` (8 nodes, expanding, so migrations run); one failure report. */
async function seed(s: TestServer): Promise<void> {
  await addProxies(s, HOSTS, PER_HOST);
  await ok(s, 'POST', '/clusters/meta/fuzzdb', { node_number: 8 });
  await ok(s, 'POST', '/clusters/meta/movingdb', { node_number: 4 });
  const grown = await fetch(`${s.api}/clusters/nodes/movingdb`, {
    method: 'PATCH',
    body: JSON.stringify({ node_number: 4 }),
  });
  assert.equal(grown.status, 200, await grown.text());
  await ok(s, 'POST', '/clusters/migrations/expand/movingdb');
  await ok(s, 'POST', `/failures/${PROXIES[14]}/seed-reporter`);
}

// ---- Generators ----

/** Path parameter values: real targets most often, then near misses and junk. */
const clusterName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...CLUSTERS) },
  { weight: 2, arbitrary: fc.constantFrom('newdb', 'db@1', 'a-b_c', 'x'.repeat(30)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '',
      'a b',
      'x'.repeat(31),
      'ünï',
      '.',
      '..',
      'a/b',
      '%',
      '%zz',
      '__proto__',
      'constructor',
      'FUZZDB',
      'fuzzdb ',
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
);
const proxyAddress = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...PROXIES) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '127.0.0.9:7001',
      'h:1',
      'nocolon',
      'a:b:c',
      ':',
      '[::1]:7000',
      '127.0.0.1:7001/x',
      'ü:1',
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
);
/** Epochs the broker caps (2^52) or cannot hold exactly past (2^53 - 1), and their neighbours. */
const NEAR_CAP = [2 ** 52 - 1, 2 ** 52, 2 ** 52 + 1, 2 ** 53 - 1];
const integerText = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom('4', '8', '12', '0', '-4', '3', '-0', '+4', '4.0', '1e3', '0x10', '٤', ' 4'),
  },
  // Around the epoch cap (2^52) and the end of exact integers (2^53); huge values are refused at the edge.
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      ...NEAR_CAP.map(String),
      '9007199254740992',
      '99999999999999999999999',
      '-9007199254740993',
      '1' + '0'.repeat(400),
    ),
  },
  { weight: 3, arbitrary: fc.integer({ min: -100, max: 100 }).map(String) },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
);
/** Epochs for PUT /epoch: small, large, and right around the cap of 2^52. */
const forcedEpoch = fc.oneof(
  integerText,
  fc.integer({ min: 0, max: 2 ** 40 }).map(String),
  fc.integer({ min: 2 ** 52 - 3, max: 2 ** 52 + 3 }).map(String),
);
const reporter = fc.oneof(
  fc.constantFrom('coordinator-1', 'r', 'a/b', '%2F'),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
);

const PARAMS: Record<string, fc.Arbitrary<string>> = {
  name: clusterName,
  address: proxyAddress,
  reporter,
  node_number: integerText,
  new_epoch: forcedEpoch,
};

type Encoding = 'component' | 'raw' | 'broken';

/** Percent-encodes only what cannot appear raw in a request line (controls, space, DEL); the rest goes as raw UTF-8. */
function rawSegment(value: string): string {
  // eslint-disable-next-line no-control-regex -- the control characters are what this escapes
  return value.replace(/[\x00-\x20\x7f]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`);
}

/** One byte per UTF-16 unit (its low byte), except that bytes a request line cannot hold go percent-encoded. */
function latin1Bytes(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const b = text.charCodeAt(i) & 0xff;
    if (b <= 0x20 || b === 0x7f) bytes.push(...Buffer.from(`%${b.toString(16).padStart(2, '0').toUpperCase()}`));
    else bytes.push(b);
  }
  return Buffer.from(bytes);
}

function encodeParam(value: string, encoding: Encoding, brokenAt: number, broken: string): string {
  if (encoding === 'component') return encodeURIComponent(value);
  const raw = rawSegment(value);
  if (encoding === 'raw') return raw;
  const at = raw.length === 0 ? 0 : brokenAt % (raw.length + 1);
  return raw.slice(0, at) + broken + raw.slice(at);
}

const paramValue = (name: string) =>
  fc.record({
    value: PARAMS[name] ?? fc.string(),
    encoding: fc.constantFrom<Encoding>('component', 'component', 'raw', 'broken'),
    brokenAt: fc.nat(),
    broken: fc.constantFrom('%', '%G1', '%E0%A4%A', '%00', '%FF', '%C0%AF', '%2', '%%'),
  });

/** How a route's path is bent before sending. */
type PathTwist =
  | 'none'
  | 'trailing-slash'
  | 'double-slash'
  | 'dot'
  | 'dot-dot'
  | 'upper'
  | 'encoded-literal'
  | 'prefix'
  | 'long-segment';
const pathTwist = fc.oneof(
  { weight: 14, arbitrary: fc.constant<PathTwist>('none') },
  {
    weight: 1,
    arbitrary: fc.constantFrom<PathTwist>(
      'trailing-slash',
      'double-slash',
      'dot',
      'dot-dot',
      'upper',
      'encoded-literal',
      'prefix',
      'long-segment',
    ),
  },
);

function twist(path: string, how: PathTwist, at: number, longLength: number): string {
  const segments = path.split('/');
  const i = 1 + (at % (segments.length - 1));
  switch (how) {
    case 'none':
      return path;
    case 'trailing-slash':
      return `${path}/`;
    case 'double-slash':
      return [...segments.slice(0, i), '', ...segments.slice(i)].join('/');
    case 'dot':
      return [...segments.slice(0, i), '.', ...segments.slice(i)].join('/');
    case 'dot-dot':
      return [...segments.slice(0, i), 'x', '..', ...segments.slice(i)].join('/');
    case 'upper':
      return path.toUpperCase();
    case 'encoded-literal':
      return path.replace('/clusters', '/%63lusters').replace('/proxies', '/pro%78ies').replace('/api', '/%61pi');
    case 'prefix':
      return path.replace('/api/v2', ['/api/v1', '/api', '/v2', ''][at % 4]!);
    case 'long-segment':
      return [...segments.slice(0, i), 'a'.repeat(longLength), ...segments.slice(i + 1)].join('/');
  }
}

const queryName = fc.constantFrom('offset', 'limit', 'offset', 'limit', 'x', '', 'offset[]', 'OFFSET', 'lim%69t');
const queryValue = fc.oneof(
  fc.constantFrom(
    '',
    '0',
    '1',
    '2',
    '10',
    '-1',
    '-0',
    '1.5',
    '1e3',
    '0x10',
    '+1',
    '%2B1',
    '%201',
    '9007199254740991',
    '9007199254740992',
    '99999999999999999999999',
    'abc',
    'null',
    '%',
    '%zz',
    '٣',
  ),
  fc.nat({ max: 1000 }).map(String),
  fc.integer().map(String),
);
const query = fc.oneof(
  { weight: 3, arbitrary: fc.constant(null) },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.tuple(queryName, fc.constantFrom('=', '', '=='), queryValue), { maxLength: 5 })
      .map((pairs) => pairs.map(([n, eq, v]) => `${n}${eq}${eq === '' ? '' : rawSegment(v)}`).join('&')),
  },
);

// Bodies are generated as small descriptions and built into bytes when sent.
type BodySpec =
  | { readonly kind: 'json'; readonly value: unknown }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array }
  | { readonly kind: 'truncated'; readonly value: unknown; readonly at: number }
  | { readonly kind: 'nested'; readonly depth: number; readonly open: string; readonly close: string }
  | {
      readonly kind: 'large';
      readonly size: number;
      readonly value: unknown;
      readonly padding: 'spaces' | 'string' | 'junk';
    }
  | { readonly kind: 'document'; readonly edits: readonly DocumentEdit[]; readonly padding: number }
  | { readonly kind: 'migration'; readonly cluster: string; readonly edit: boolean };

/** An edit to the live stored document: at the `at`-th node of the tree, replace, delete, or nothing. */
interface DocumentEdit {
  readonly at: number;
  readonly op: 'replace' | 'delete' | 'keep';
  readonly value: unknown;
}

const anyJson = fc.jsonValue({ maxDepth: 3 });
const number = fc.oneof(
  fc.constantFrom(4, 8, 12, 0, -4, 3, 1e308, -1e308, ...NEAR_CAP, 2 ** 53, 2 ** 53 + 4, 2 ** 31, 4.5, Number.MIN_VALUE),
  fc.integer({ min: -64, max: 64 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const fieldValue = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 4, arbitrary: arb }, { weight: 1, arbitrary: anyJson });
const nodeAddress = fc.oneof(
  fc.constantFrom('127.0.0.9:6000', '127.0.0.9:6001', 'n:1', ''),
  fc.string({ maxLength: 20 }),
);
const freshProxy = fc.oneof(
  proxyAddress,
  fc.integer({ min: 1, max: 9999 }).map((p) => `127.0.0.${1 + (p % 9)}:${10000 + p}`),
);

const addProxyBody = fc.record(
  {
    proxy_address: fieldValue(freshProxy),
    nodes: fieldValue(fc.tuple(nodeAddress, nodeAddress)),
    host: fieldValue(fc.option(fc.string({ maxLength: 10 }))),
    extra: anyJson,
  },
  { requiredKeys: [] },
);
const nodeNumberBody = fc.record({ node_number: fieldValue(number) }, { requiredKeys: [] });
const clusterNodeNumberBody = fc.record({ cluster_node_number: fieldValue(number) }, { requiredKeys: [] });
const configKey = fc.constantFrom(
  'compression_strategy',
  'migration_config.max_migration_time',
  'migration_config.max_blocking_time',
  'migration_config.scan_interval',
  'migration_config.scan_count',
  'unknown',
  '',
  '__proto__',
);
const configValue = fc.oneof(
  fc.constantFrom('disabled', 'set_get_only', 'allow_all', 'ALLOW_ALL', '', '10', '-1', '1e3'),
  number,
  anyJson,
);
const changeConfigBody = fc.dictionary(configKey, configValue, { maxKeys: 3 });
const slotRange = fc.record({
  range_list: fieldValue(
    fc.array(fc.tuple(fc.integer({ min: -1, max: 16384 }), fc.integer({ min: -1, max: 16384 })), { maxLength: 3 }),
  ),
  tag: fieldValue(fc.constantFrom('None', { Migrating: {} }, { Importing: {} })),
});
const commitMigrationBody = fc.record(
  { cluster_name: fieldValue(clusterName), slot_range: fieldValue(slotRange) },
  { requiredKeys: [] },
);

/** Bodies that fit, or nearly fit, what the route reads. */
function shapedBody(pattern: string, kind: BodyKind): fc.Arbitrary<BodySpec> {
  const json = (arb: fc.Arbitrary<unknown>) => arb.map((value): BodySpec => ({ kind: 'json', value }));
  if (kind === 'metadata') {
    const value = fc.oneof(anyJson, number, fc.constantFrom(null, [], {}, 'mem-broker-0.1', ...NEAR_CAP, 2 ** 53, -1));
    const edit = fc.record({
      at: fc.nat(),
      op: fc.constantFrom<DocumentEdit['op']>('replace', 'replace', 'delete', 'keep'),
      value,
    });
    return fc.record({
      kind: fc.constant('document' as const),
      edits: fc.array(edit, { minLength: 1, maxLength: 3 }),
      padding: fc.constantFrom(0, 0, 0, 1000),
    });
  }
  if (pattern.endsWith('/proxies/meta')) return json(addProxyBody);
  if (pattern.includes('/clusters/meta/') || (pattern.startsWith('PATCH') && pattern.includes('/clusters/nodes/')))
    return json(nodeNumberBody);
  if (pattern.includes('/clusters/nodes/')) return json(fc.oneof(nodeNumberBody, clusterNodeNumberBody));
  if (pattern.includes('/clusters/config/')) return json(changeConfigBody);
  if (pattern.endsWith('/clusters/migrations')) {
    return fc.oneof(
      fc.record({ kind: fc.constant('migration' as const), cluster: fc.constantFrom(...CLUSTERS), edit: fc.boolean() }),
      json(commitMigrationBody),
    );
  }
  return json(anyJson);
}

/** Bodies that fit nothing: malformed, wrong-typed, deep, huge numbers, truncated, invalid UTF-8, large. */
function junkBody(shaped: fc.Arbitrary<BodySpec>): fc.Arbitrary<BodySpec> {
  const valueOf = (b: BodySpec): unknown => (b.kind === 'json' ? b.value : { a: 1 });
  return fc.oneof(
    { weight: 3, arbitrary: anyJson.map((value): BodySpec => ({ kind: 'json', value })) },
    {
      weight: 3,
      arbitrary: fc
        .oneof(
          fc.constantFrom(
            '',
            ' ',
            '{',
            '}',
            '[',
            'nul',
            'undefined',
            "{'a':1}",
            '{"a":1,}',
            '{"a" 1}',
            '01',
            'NaN',
            'Infinity',
            '"\\ud800"',
            '\u0000',
            '{"a":1}{"a":2}',
            '{"__proto__":{"x":1}}',
          ),
          fc.constantFrom(
            '{"node_number": 1e400}',
            '{"node_number": -1e400}',
            '{"node_number": 123456789012345678901234567890}',
            '{"node_number": 4e0}',
            '{"node_number": 0.4e1}',
            '{"node_number": -0}',
            '{"cluster_node_number": 1e21}',
          ),
          fc.string({ unit: 'grapheme', maxLength: 60 }),
        )
        .map((text): BodySpec => ({ kind: 'text', text })),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((bytes): BodySpec => ({ kind: 'bytes', bytes })) },
    {
      weight: 2,
      arbitrary: fc.tuple(shaped, fc.nat()).map(([b, at]): BodySpec => ({ kind: 'truncated', value: valueOf(b), at })),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('nested' as const),
        depth: fc.oneof(fc.integer({ min: 1, max: 200 }), fc.constantFrom(10_000, 100_000)),
        open: fc.constantFrom('[', '{"a":', '{"node_number":', '{"nodes":['),
        close: fc.constantFrom(']', '}', ''),
      }),
    },
    {
      // Few large bodies, to keep the run fast: around the 1 MiB limit, and 10 MiB.
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.nat({ max: 39 }),
          shaped,
          fc.constantFrom<'spaces' | 'string' | 'junk'>('spaces', 'string', 'junk'),
          fc.constantFrom(MiB - 1, MiB, MiB + 1, 10 * MiB),
        )
        .map(([ticket, b, padding, size]): BodySpec =>
          ticket < 2 ? { kind: 'large', size, value: valueOf(b), padding } : b,
        ),
    },
  );
}

interface Case {
  readonly method: string;
  readonly route: string;
  readonly path: string;
  /** Send the path one byte per char (see latin1Bytes): invalid UTF-8 wherever a byte is 0x80 or more. */
  readonly latin1?: boolean;
  readonly query: string | null;
  readonly body: BodySpec | null;
  readonly chunks: readonly number[] | null;
  readonly headers: readonly (readonly [string, string])[];
}

const extraHeaders = fc.oneof(
  { weight: 8, arbitrary: fc.constant([] as [string, string][]) },
  {
    weight: 1,
    arbitrary: fc.array(
      fc.constantFrom<[string, string]>(
        ['Content-Type', 'text/plain'],
        ['Content-Type', 'application/json; charset=latin1'],
        ['Authorization', 'Bearer nope'],
        ['Accept', '*/*'],
        ['X-Forwarded-For', '10.0.0.1'],
      ),
      { maxLength: 2 },
    ),
  },
);

function routeCase(): fc.Arbitrary<Case> {
  const perRoute = ROUTES.map((r) => {
    const names = r.pattern
      .split('/')
      .filter((seg) => seg.startsWith(':'))
      .map((seg) => seg.slice(1));
    const shaped = shapedBody(`${r.method} ${r.pattern}`, r.body);
    const body =
      r.body === 'none'
        ? fc.option(junkBody(shaped), { freq: 3 })
        : fc.oneof(
            { weight: 3, arbitrary: shaped },
            { weight: 2, arbitrary: junkBody(shaped) },
            { weight: 1, arbitrary: fc.constant(null) },
          );
    const method = fc.oneof(
      { weight: 12, arbitrary: fc.constant(r.method) },
      { weight: 2, arbitrary: fc.constantFrom(...HTTP_METHODS) },
      { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z-]{1,10}$/) },
    );
    return fc
      .record({
        method,
        params: fc.tuple(...names.map(paramValue)),
        twist: pathTwist,
        twistAt: fc.nat(),
        longLength: fc.constantFrom(256, 4096, 16_384, 70_000),
        query,
        body,
        chunks: fc.option(fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 4 }), { freq: 6 }),
        headers: extraHeaders,
        latin1: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      })
      .map(({ method, params, twist: how, twistAt, longLength, query, body, chunks, headers, latin1 }): Case => {
        let i = 0;
        const path = r.pattern
          .split('/')
          .map((seg) => {
            if (!seg.startsWith(':')) return seg;
            const p = params[i++]!;
            return encodeParam(p.value, p.encoding, p.brokenAt, p.broken);
          })
          .join('/');
        return {
          method,
          route: `${r.method} ${r.pattern}`,
          path: twist(path, how, twistAt, longLength),
          latin1,
          query,
          body,
          chunks,
          headers,
        };
      });
  });
  const randomPath = fc
    .record({
      method: fc.constantFrom(...HTTP_METHODS),
      path: fc.oneof(
        fc.webPath().map((p) => (p.startsWith('/') ? p : `/${p}`)),
        fc.string({ unit: 'grapheme', maxLength: 60 }).map((p) => `/api/v2/${rawSegment(p)}`),
        // Always from '/': uWS leaves a request target without one (`*`, `api/v2`) unanswered until its idle timeout.
        fc.constantFrom(
          '/',
          '/api',
          '/api/v2',
          '/api/v2/',
          '//',
          '/./api/v2/version',
          '/api/v2/../v2/version',
          '/api/v2/version/..',
        ),
      ),
      query,
      body: fc.option(junkBody(fc.constant<BodySpec>({ kind: 'json', value: {} })), { freq: 3 }),
      headers: extraHeaders,
    })
    .map((c): Case => ({ ...c, route: 'random', chunks: null }));
  return fc.oneof({ weight: 12, arbitrary: fc.oneof(...perRoute) }, { weight: 1, arbitrary: randomPath });
}

/**
 * Cases that run first in every run, so that each kind of edge is met
 * whatever the random draw; the random cases follow.
 */
const EXAMPLES: readonly Case[] = [
  {
    route: 'POST /api/v2/proxies/meta',
    method: 'POST',
    path: '/api/v2/proxies/meta',
    query: null,
    chunks: null,
    headers: [],
    body: {
      kind: 'large',
      size: 10 * MiB,
      value: { proxy_address: '127.0.0.9:1', nodes: ['a:1', 'a:2'] },
      padding: 'spaces',
    },
  },
  {
    route: 'PATCH /api/v2/clusters/config/:name',
    method: 'PATCH',
    path: '/api/v2/clusters/config/fuzzdb',
    query: null,
    chunks: [65_536],
    headers: [],
    body: { kind: 'large', size: 10 * MiB, value: {}, padding: 'string' },
  },
  {
    route: 'POST /api/v2/clusters/meta/:name',
    method: 'POST',
    path: '/api/v2/clusters/meta/newdb',
    query: null,
    chunks: null,
    headers: [],
    body: { kind: 'large', size: MiB + 1, value: { node_number: 4 }, padding: 'spaces' },
  },
  {
    route: 'PUT /api/v2/metadata',
    method: 'PUT',
    path: '/api/v2/metadata',
    query: null,
    chunks: null,
    headers: [],
    body: { kind: 'large', size: 10 * MiB, value: {}, padding: 'junk' },
  },
  {
    route: 'PUT /api/v2/metadata',
    method: 'PUT',
    path: '/api/v2/metadata',
    query: null,
    chunks: null,
    headers: [],
    body: { kind: 'nested', depth: 100_000, open: '[', close: ']' },
  },
  {
    route: 'PUT /api/v2/metadata',
    method: 'PUT',
    path: '/api/v2/metadata',
    query: null,
    chunks: null,
    headers: [],
    body: { kind: 'document', edits: [{ at: 3, op: 'replace', value: 'x' }], padding: 0 },
  },
  {
    route: 'GET /api/v2/clusters/meta/:name',
    method: 'GET',
    path: `/api/v2/clusters/meta/${'a'.repeat(70_000)}`,
    query: null,
    chunks: null,
    headers: [],
    body: null,
  },
  {
    route: 'GET /api/v2/version',
    method: 'HEAD',
    path: '/api/v2/version',
    query: null,
    chunks: null,
    headers: [],
    body: null,
  },
  {
    route: 'GET /api/v2/version',
    method: 'PURGE',
    path: '/api/v2/version',
    query: null,
    chunks: null,
    headers: [],
    body: null,
  },
  {
    route: 'GET /api/v2/proxies/addresses',
    method: 'GET',
    path: '/api/v2/proxies/addresses',
    query: 'offset=-1&limit=99999999999999999999999&limit=2',
    chunks: null,
    headers: [],
    body: null,
  },
  {
    route: 'PUT /api/v2/epoch/:new_epoch',
    method: 'PUT',
    path: '/api/v2/epoch/9007199254740992',
    query: null,
    chunks: null,
    headers: [],
    body: null,
  },
  // Past the cap (refused), then at it (accepted): later writes take the epoch beyond 2^52.
  ...[2 ** 52 + 1, 2 ** 52].map((epoch): Case => ({
    route: 'PUT /api/v2/epoch/:new_epoch',
    method: 'PUT',
    path: `/api/v2/epoch/${epoch}`,
    query: null,
    chunks: null,
    headers: [],
    body: null,
  })),
  {
    route: 'GET /api/v2/proxies/meta/:address',
    method: 'GET',
    path: '/api/v2/proxies/meta/%E0%A4%A',
    query: null,
    chunks: null,
    headers: [],
    body: null,
  },
  {
    route: 'GET /api/v2/clusters/meta/:name',
    method: 'GET',
    path: '/api/v2/clusters/meta/\xff\xfe',
    latin1: true,
    query: null,
    chunks: null,
    headers: [],
    body: null,
  },
  // Re-adding a reported proxy: refused, and its recovery stands (docs/api.md#a-failed-request-changes-nothing).
  {
    route: 'POST /api/v2/proxies/meta',
    method: 'POST',
    path: '/api/v2/proxies/meta',
    query: null,
    chunks: null,
    headers: [],
    body: { kind: 'json', value: { proxy_address: PROXIES[14], nodes: ['x:1', 'x:2'] } },
  },
  {
    route: 'POST /api/v2/clusters/migrations/expand/:name',
    method: 'POST',
    path: '/api/v2/clusters/migrations/expand/movingdb',
    query: null,
    chunks: null,
    headers: [],
    body: null,
  },
  {
    route: 'PUT /api/v2/clusters/migrations',
    method: 'PUT',
    path: '/api/v2/clusters/migrations',
    query: null,
    chunks: null,
    headers: [],
    body: { kind: 'migration', cluster: 'movingdb', edit: false },
  },
];

// ---- Building the bytes ----

interface Live {
  /** GET /metadata now. */
  baseline: string;
  /** Answers one GET over the fuzzing connection. */
  get(path: string): Promise<RawAnswer>;
}

function walk(
  value: unknown,
  visit: (holder: Record<string, unknown> | unknown[], key: string | number) => void,
): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      visit(value, i);
      walk(v, visit);
    });
  } else {
    for (const [k, v] of Object.entries(value)) {
      visit(value as Record<string, unknown>, k);
      walk(v, visit);
    }
  }
}

/** The live document with the edits applied at the chosen nodes of its tree. */
function editedDocument(baseline: string, edits: readonly DocumentEdit[]): unknown {
  const doc = JSON.parse(baseline) as Record<string, unknown>;
  for (const e of edits) {
    const slots: [Record<string, unknown> | unknown[], string | number][] = [];
    walk(doc, (holder, key) => slots.push([holder, key]));
    const slot = slots[e.at % slots.length];
    if (!slot || e.op === 'keep') continue;
    const [holder, key] = slot;
    if (e.op === 'replace') (holder as Record<string | number, unknown>)[key] = e.value;
    else if (Array.isArray(holder)) holder.splice(key as number, 1);
    else delete holder[key as string];
  }
  return doc;
}

interface SlotRangeJson {
  range_list: [number, number][];
  tag: unknown;
}

/** A migrating slot range exactly as the cluster view shows it, to commit. */
async function shownMigration(live: Live, cluster: string): Promise<SlotRangeJson | null> {
  const view = JSON.parse((await live.get(`/api/v2/clusters/meta/${cluster}`)).text) as {
    cluster: { nodes: { slots: SlotRangeJson[] }[] } | null;
  };
  for (const node of view.cluster?.nodes ?? []) {
    for (const slots of node.slots)
      if (typeof slots.tag === 'object' && slots.tag !== null && 'Migrating' in slots.tag) return slots;
  }
  return null;
}

async function bodyBytes(spec: BodySpec, live: Live): Promise<Buffer> {
  switch (spec.kind) {
    case 'json':
      return Buffer.from(JSON.stringify(spec.value) ?? 'null');
    case 'text':
      return Buffer.from(spec.text);
    case 'bytes':
      return Buffer.from(spec.bytes);
    case 'truncated': {
      const text = JSON.stringify(spec.value) ?? 'null';
      return Buffer.from(text.slice(0, spec.at % Math.max(1, text.length)));
    }
    case 'nested':
      return Buffer.from(spec.open.repeat(spec.depth) + '1' + spec.close.repeat(spec.depth));
    case 'large': {
      const text = JSON.stringify(spec.value) ?? 'null';
      const body = Buffer.alloc(Math.max(spec.size, text.length + 16), spec.padding === 'junk' ? 'x' : ' ');
      if (spec.padding === 'string') {
        // {"padding":"xxx…","value":…}: valid JSON of the exact size, with an unknown field.
        const head = '{"padding":"';
        const tail = `","value":${text}}`;
        body.write(head, 0);
        body.fill('x', head.length, body.length - tail.length);
        body.write(tail, body.length - tail.length);
      } else {
        body.write(text, 0);
      }
      return body;
    }
    case 'document': {
      const text = JSON.stringify(editedDocument(live.baseline, spec.edits)) ?? 'null';
      return Buffer.from(text + ' '.repeat(spec.padding));
    }
    case 'migration': {
      const shown = await shownMigration(live, spec.cluster);
      const slot_range =
        shown && spec.edit ? { ...shown, range_list: [[shown.range_list[0]![0], shown.range_list[0]![1] + 1]] } : shown;
      return Buffer.from(JSON.stringify({ cluster_name: spec.cluster, slot_range }));
    }
  }
}

/**
 * docs/api.md#a-failed-request-changes-nothing names the two refusals whose change stands: re-adding a known
 * proxy (409 ALREADY_EXISTED: it is marked recovered, the epoch rises) and
 * failover without a replacement (409 NO_AVAILABLE_RESOURCE: the takeover
 * and the failed mark stay). Checks such a change and answers true, or
 * answers false for any other refusal.
 */
function checkStandingChange(
  c: Case,
  answer: RawAnswer | null,
  body: Buffer | null,
  before: string,
  now: string,
  what: string,
): boolean {
  if (answer === null || answer.status !== 409) return false;
  const code = (JSON.parse(answer.text) as { error: string }).error;
  const old = JSON.parse(before) as Doc;
  const doc = JSON.parse(now) as Doc;
  if (c.method === 'POST' && c.route === 'POST /api/v2/proxies/meta' && code === 'ALREADY_EXISTED') {
    const address = (JSON.parse(body!.toString('utf8')) as { proxy_address: string }).proxy_address;
    const failures = { ...old.failures };
    delete failures[address];
    const expected = {
      ...old,
      global_epoch: old.global_epoch + 1,
      failed_proxies: old.failed_proxies.filter((a) => a !== address),
      failures,
    };
    assert.equal(
      now,
      JSON.stringify(expected),
      `re-adding ${address} marks it recovered and changes nothing else: ${what}`,
    );
    return true;
  }
  if (c.method === 'POST' && c.route === 'POST /api/v2/proxies/failover/:address' && code === 'NO_AVAILABLE_RESOURCE') {
    const address = decodeURIComponent(c.path.split('/').pop()!);
    assert.ok(doc.failed_proxies.includes(address), `a failover without replacement marks ${address} failed: ${what}`);
    assert.equal(
      JSON.stringify(doc.all_proxies),
      JSON.stringify(old.all_proxies),
      `a failover without replacement moves no proxy: ${what}`,
    );
    assert.ok(doc.global_epoch >= old.global_epoch, what);
    return true;
  }
  return false;
}

interface Doc {
  global_epoch: number;
  all_proxies: Record<string, unknown>;
  failed_proxies: string[];
  failures: Record<string, unknown>;
}

function describe(c: Case, body: Buffer | null): string {
  const target = c.path + (c.query === null ? '' : `?${c.query}`);
  const shown = (s: string) => JSON.stringify(s.length > 300 ? `${s.slice(0, 300)}…(${s.length})` : s);
  return `${c.method} ${shown(target)}${c.latin1 ? ' (latin1)' : ''} [${c.route}]${c.chunks ? ' chunked' : ''} headers=${JSON.stringify(c.headers)} body=${body === null ? 'none' : `${body.length} bytes ${shown(body.subarray(0, 400).toString('utf8'))}`}`;
}

// ---- The property ----

test(
  `fuzz: ${RUNS} random requests over every route; no 5xx, JSON errors, rejected writes change nothing`,
  { timeout: 180_000 },
  async (t) => {
    const logged: unknown[][] = [];
    t.mock.method(console, 'error', (...args: unknown[]) => logged.push(args));
    // No failure report may expire during the run: the owner forgets expired ones on a timer, which would move the baseline.
    const s = await startThreadedTestServer({ settings: { failureTtl: 2 ** 40 } });
    const conn = new RawConnection(s.server.port);
    t.after(async () => {
      conn.close();
      await s.close();
    });
    await seed(s);

    const get = async (path: string): Promise<RawAnswer> => {
      const a = await conn.send({ method: 'GET', target: path });
      assert.ok(a, `GET ${path} was answered`);
      assert.equal(a.status, 200, `GET ${path}: ${a.status} ${a.text}`);
      return a;
    };
    const put = (path: string, body: string) => conn.send({ method: 'PUT', target: path, body: Buffer.from(body) });
    const seedDocument = (await get(METADATA)).text;
    const live: Live = { baseline: seedDocument, get };

    const recent: string[] = [];
    /** Write-backs of a state whose epoch went beyond 2^52. */
    let pastCap = 0;
    const counts = {
      cases: 0,
      rejected: 0,
      unanswered: 0,
      standing: 0,
      accepted: 0,
      acceptedWrites: 0,
      large: 0,
      huge: 0,
      statuses: new Map<number, number>(),
    };
    const seed_ = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
    t.diagnostic(`fast-check seed ${seed_} (FUZZ_SEED=${seed_} replays this run)`);

    /** The state reached must be restorable from its own document; then the starting state is put back. */
    const writeBackAndReseed = async () => {
      const own = await put(METADATA, live.baseline);
      // Also past 2^52: writes after an epoch forced to the cap go beyond it, and the broker must
      // still take its own document back (docs/api.md#epochs).
      if ((JSON.parse(live.baseline) as Doc).global_epoch > 2 ** 52) pastCap += 1;
      assert.equal(own?.status, 200, `the document of the state reached restores: ${own?.status} ${own?.text}`);
      assert.equal((await get(METADATA)).text, live.baseline, 'restoring its own document changes nothing');
      const reset = await put(METADATA, seedDocument);
      assert.equal(reset?.status, 200, `the starting document restores: ${reset?.text}`);
      live.baseline = (await get(METADATA)).text;
    };

    await fc.assert(
      fc.asyncProperty(routeCase(), async (c) => {
        counts.cases += 1;
        const body = c.body === null ? null : await bodyBytes(c.body, live);
        if (body && body.length >= MiB) counts.large += 1;
        if (body && body.length >= 10 * MiB) counts.huge += 1;
        const request: RawRequest = {
          method: c.method,
          target: (c.latin1 ? latin1Bytes : (t: string) => Buffer.from(t))(
            c.path + (c.query === null ? '' : `?${c.query}`),
          ),
          headers: c.headers,
          body,
          ...(c.chunks === null ? {} : { chunks: c.chunks }),
        };
        // Failures can depend on the state earlier requests left: name the last few.
        const what = `${describe(c, body)}\n    after: ${recent.join('\n    then: ')}`;
        const answer = await conn.send(request, 20_000);
        recent.push(
          `${describe(c, body).slice(0, 600)} -> ${answer === null ? 'dropped' : `${answer.status} ${answer.text.slice(0, 100)}`}`,
        );
        if (recent.length > 8) recent.shift();

        if (answer === null) {
          // Dropped by uWS before any handler runs; nothing else may go unanswered.
          const head = requestBytes({ ...request, body: null }).length;
          assert.ok(
            !HTTP_METHODS.includes(c.method) || head > UWS_MAX_HEAD,
            `a request uWS parses went unanswered: ${what}`,
          );
          counts.unanswered += 1;
        } else {
          counts.statuses.set(answer.status, (counts.statuses.get(answer.status) ?? 0) + 1);
          assert.ok(
            answer.status >= 200 && answer.status < 500,
            `status ${answer.status} ${answer.text}: ${what}; logged: ${logged.map((args) => args.map(String).join(' ')).join('; ')}`,
          );
          const contentType = answer.headers.get('content-type') ?? null;
          if (answer.status >= 300 && c.method !== 'HEAD') {
            assert.equal(contentType, 'application/json', `error content type: ${what}`);
            const error = JSON.parse(answer.text) as { error?: unknown; message?: unknown };
            assert.equal(typeof error.error, 'string', `error body ${answer.text}: ${what}`);
            if (error.error === 'INVALID_REQUEST')
              assert.equal(typeof error.message, 'string', `INVALID_REQUEST has a message: ${what}`);
          } else if (c.method === 'HEAD') {
            // The bytes on the socket after the HEAD answer's head must be the next answer's status line.
            const probe = await conn.send({ method: 'GET', target: '/api/v2/version' });
            assert.equal(probe?.stray.toString('latin1'), '', `a HEAD answer has no body: ${what}`);
            assert.equal(probe?.text, '0.3.0', `the connection is still in step after a HEAD: ${what}`);
          } else if (contentType === 'application/json') {
            assert.doesNotThrow(() => JSON.parse(answer.text), `2xx JSON answer parses: ${what}`);
          }
        }

        const accepted = answer !== null && answer.status < 300;
        if (accepted) counts.accepted += 1;
        else counts.rejected += 1;
        // GET and HEAD never write; anything else may.
        if (c.method !== 'GET' && c.method !== 'HEAD') {
          const now = (await get(METADATA)).text;
          if (accepted) {
            if (now !== live.baseline) counts.acceptedWrites += 1;
            live.baseline = now;
          } else if (now !== live.baseline && checkStandingChange(c, answer, body, live.baseline, now, what)) {
            counts.standing += 1;
            live.baseline = now;
          } else {
            assert.equal(
              now,
              live.baseline,
              `a rejected request (${answer?.status ?? 'connection dropped'} ${answer?.text ?? ''}) changed the metadata: ${what}`,
            );
          }
        }
        if (counts.cases % RESEED === 0) await writeBackAndReseed();
      }),
      {
        numRuns: RUNS,
        seed: seed_,
        endOnFailure: true,
        includeErrorInReport: true,
        examples: EXAMPLES.map((c): [Case] => [c]),
      },
    );
    await writeBackAndReseed();

    // The server is still whole: it answers, and its threads are alive (a dead owner answers 503).
    assert.equal((await get('/api/v2/version')).text, '0.3.0');
    assert.equal(
      (await conn.send({ method: 'POST', target: `/api/v2/failures/${PROXIES[0]}/after-fuzz` }))?.status,
      200,
    );
    assert.deepEqual(logged, [], 'nothing was logged as an unexpected error');

    const statuses = [...counts.statuses]
      .sort(([a], [b]) => a - b)
      .map(([status, n]) => `${status}:${n}`)
      .join(' ');
    const summary = `cases ${counts.cases}, rejected ${counts.rejected} (of which unanswered: ${counts.unanswered}; refusals whose change stands, docs/api.md#a-failed-request-changes-nothing: ${counts.standing}), accepted ${counts.accepted} (state-changing writes ${counts.acceptedWrites}), bodies >= 1 MiB ${counts.large} (10 MiB: ${counts.huge}); statuses ${statuses}`;
    t.diagnostic(summary);
    console.log(`[fuzz] ${summary}`);

    // The generators reach what they mean to: every route, accepted writes, refusals of each kind, large bodies.
    assert.equal(counts.cases, RUNS);
    const reached = new Set(s.requests.map((r) => `${r.method} ${r.route}`));
    for (const r of ROUTES)
      assert.ok(reached.has(`${r.method} ${r.pattern}`), `the fuzz reached ${r.method} ${r.pattern}`);
    assert.ok(
      counts.acceptedWrites >= RUNS / 100,
      `enough accepted writes changed the state (${counts.acceptedWrites})`,
    );
    for (const status of [400, 404, 409, 413])
      assert.ok((counts.statuses.get(status) ?? 0) > 0, `some requests answered ${status}`);
    assert.ok(counts.huge > 0 && counts.unanswered > 0 && counts.standing > 0, 'the examples met their edges');
    assert.ok(pastCap > 0, 'some state went past the epoch cap of 2^52');
  },
);

test('HEAD: the answer has no body, so the keep-alive connection stays usable (found by the fuzz)', async (t) => {
  const s = await startThreadedTestServer();
  const conn = new RawConnection(s.server.port);
  t.after(async () => {
    conn.close();
    await s.close();
  });
  // A body on the HEAD answer would be read as the start of the GET's answer.
  const answer = await conn.send({ method: 'HEAD', target: '/api/v2/version' });
  assert.equal(answer?.status, 200, 'HEAD on a GET route answers as the GET');
  assert.equal(answer?.headers.get('content-type'), 'text/plain');
  assert.equal(answer?.body.length, 0);
  const missing = await conn.send({ method: 'HEAD', target: '/api/v2/nosuch' });
  assert.equal(missing?.status, 404);
  const next = await conn.send({ method: 'GET', target: '/api/v2/version' });
  assert.equal(next?.stray.toString('latin1'), '', 'nothing came between the HEAD answer and the next one');
  assert.equal(next?.status, 200);
  assert.equal(next?.text, '0.3.0');
  assert.equal(conn.closedByServer, 0);
  // And node's own client, which fails hard on a stray body, reads both answers on one socket.
  const http = await import('node:http');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const ask = (method: string) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: s.server.port, method, path: '/api/v2/version', agent },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end();
    });
  assert.deepEqual([await ask('HEAD'), await ask('GET'), await ask('HEAD'), await ask('GET')], [200, 200, 200, 200]);
});

test('names such as __proto__ reach the reader threads like any other (found by the fuzz)', async (t) => {
  const s = await startThreadedTestServer();
  t.after(() => s.close());
  await addProxies(s, 2, 1);
  // A valid cluster name (letters and `_`), and a failure report from a reporter of that name.
  await ok(s, 'POST', '/clusters/meta/__proto__', { node_number: 4 });
  await ok(s, 'POST', `/failures/${proxyAddr(1, 1)}/__proto__`);
  const view = (await okJson(s, 'GET', '/clusters/meta/__proto__')) as {
    cluster: { name: string; nodes: unknown[] } | null;
  };
  assert.equal(view.cluster?.name, '__proto__');
  assert.equal(view.cluster.nodes.length, 4);
  assert.deepEqual(await okJson(s, 'GET', '/clusters/names'), { names: ['__proto__'] });
  // The what-if fails over every proxy on a copy; with the cluster missing on the reader it answered 500.
  assert.deepEqual(await okJson(s, 'POST', '/resources/failures/check'), { hosts_cannot_fail: ['host1', 'host2'] });
  const doc = JSON.parse(await metadataText(s)) as {
    clusters: Record<string, unknown>;
    failures: Record<string, Record<string, number>>;
  };
  assert.deepEqual(Object.keys(doc.clusters), ['__proto__']);
  assert.deepEqual(Object.keys(doc.failures), [proxyAddr(1, 1)]);
  assert.deepEqual(Object.keys(doc.failures[proxyAddr(1, 1)]!), ['__proto__']);
});

test('a restored empty failure report is dropped, and the failover what-if leaves its reader as it was (found by the fuzz)', async (t) => {
  // One reader, so the reads below go to the replica the what-if ran on.
  const s = await startThreadedTestServer({ threaded: { readerThreads: 1 } });
  t.after(() => s.close());
  await addProxies(s, 2, 1);
  const doc = JSON.parse(await metadataText(s)) as { failures: Record<string, Record<string, number>> };
  doc.failures[proxyAddr(1, 1)] = {};
  await ok(s, 'PUT', '/metadata', doc);
  // It fails over the free proxy on a draft and rolls back; the rollback lost the empty entry's value.
  assert.deepEqual(await okJson(s, 'POST', '/resources/failures/check'), { hosts_cannot_fail: [] });
  assert.deepEqual(await okJson(s, 'GET', '/failures'), { addresses: [] });
  delete doc.failures[proxyAddr(1, 1)];
  assert.deepEqual(await okJson(s, 'GET', '/metadata'), doc);
});
