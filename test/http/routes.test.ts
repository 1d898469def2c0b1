import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BrokerError } from '../../src/domain/errors.js';
import { createMatcher, decodeParams, matchRoute, ROUTES } from '../../src/http/routes.js';

// undermoon's mem_broker routes (docs/api.md#routes), method and pattern.
const EXPECTED = [
  'GET /api/v2/version',
  'GET /api/v2/metadata',
  'PUT /api/v2/metadata',
  'GET /api/v2/clusters/names',
  'GET /api/v2/clusters/meta/:name',
  'GET /api/v2/proxies/addresses',
  'GET /api/v2/proxies/meta/:address',
  'GET /api/v2/failures',
  'POST /api/v2/failures/:address/:reporter',
  'POST /api/v2/proxies/failover/:address',
  'PUT /api/v2/clusters/migrations',
  'GET /api/v2/proxies/failed/addresses',
  'POST /api/v2/clusters/meta/:name',
  'DELETE /api/v2/clusters/meta/:name',
  'PATCH /api/v2/clusters/nodes/:name',
  'PUT /api/v2/clusters/nodes/:name',
  'DELETE /api/v2/clusters/free_nodes/:name',
  'POST /api/v2/clusters/migrations/shrink/:name/:node_number',
  'POST /api/v2/clusters/migrations/expand/:name',
  'PATCH /api/v2/clusters/config/:name',
  'PUT /api/v2/clusters/balance/:name',
  'POST /api/v2/proxies/meta',
  'DELETE /api/v2/proxies/meta/:address',
  'POST /api/v2/resources/failures/check',
  'PUT /api/v2/epoch/recovery',
  'PUT /api/v2/epoch/:new_epoch',
  // Ours, beyond the reference.
  'GET /api/v2/metrics',
];

// The coordinator routes (docs/api.md#access-control): open even when an api_token is set.
const OPEN = [
  'GET /api/v2/clusters/names',
  'GET /api/v2/clusters/meta/:name',
  'GET /api/v2/proxies/addresses',
  'GET /api/v2/proxies/meta/:address',
  'GET /api/v2/failures',
  'POST /api/v2/failures/:address/:reporter',
  'POST /api/v2/proxies/failover/:address',
  'PUT /api/v2/clusters/migrations',
  'GET /api/v2/proxies/failed/addresses',
];

test('routes: the table is exactly the mem_broker API', () => {
  assert.deepEqual(
    ROUTES.map((r) => `${r.method} ${r.pattern}`),
    EXPECTED,
  );
});

test('routes: only the coordinator routes are open when a token is set', () => {
  assert.deepEqual(
    ROUTES.filter((r) => r.access === 'open').map((r) => `${r.method} ${r.pattern}`),
    OPEN,
  );
});

test('routes: every route matches its own pattern, with parameters by name', () => {
  for (const route of ROUTES) {
    const path = route.pattern.replace(/:([a-z_]+)/g, (_m, name: string) => `v-${name}`);
    const match = matchRoute(route.method, path);
    assert.ok(match, `${route.method} ${path}`);
    assert.equal(match.route, route);
    const names = [...route.pattern.matchAll(/:([a-z_]+)/g)].map((m) => m[1]!);
    assert.deepEqual(match.rawParams, Object.fromEntries(names.map((n) => [n, `v-${n}`])));
  }
});

test('routes: PUT /epoch/recovery wins over PUT /epoch/:new_epoch', () => {
  assert.equal(matchRoute('PUT', '/api/v2/epoch/recovery')?.route.pattern, '/api/v2/epoch/recovery');
  assert.deepEqual(matchRoute('PUT', '/api/v2/epoch/42')?.rawParams, { new_epoch: '42' });
  // A literal differing only by encoding is a parameter value, not the literal.
  assert.deepEqual(matchRoute('PUT', '/api/v2/epoch/recover%79')?.rawParams, { new_epoch: 'recover%79' });
  // Precedence comes from the segments, not from the table order.
  const reversed = createMatcher([...ROUTES].reverse());
  assert.equal(reversed('PUT', '/api/v2/epoch/recovery')?.route.pattern, '/api/v2/epoch/recovery');
  assert.equal(reversed('PUT', '/api/v2/epoch/7')?.route.pattern, '/api/v2/epoch/:new_epoch');
});

test('routes: literal routes are not shadowed by parameter routes of other shapes', () => {
  assert.equal(
    matchRoute('GET', '/api/v2/proxies/failed/addresses')?.route.pattern,
    '/api/v2/proxies/failed/addresses',
  );
  assert.equal(matchRoute('PUT', '/api/v2/clusters/migrations')?.route.pattern, '/api/v2/clusters/migrations');
  assert.equal(
    matchRoute('POST', '/api/v2/clusters/migrations/expand/a')?.route.pattern,
    '/api/v2/clusters/migrations/expand/:name',
  );
  assert.equal(matchRoute('POST', '/api/v2/proxies/meta')?.route.pattern, '/api/v2/proxies/meta');
});

test('routes: unknown paths, unknown methods, empty parameters and trailing slashes do not match', () => {
  const misses: [string, string][] = [
    ['GET', '/'],
    ['GET', '/api/v2'],
    ['GET', '/api/v1/version'],
    ['GET', '/api/v2/version/'],
    ['GET', '/api/v2/clusters/meta/'],
    ['GET', '/api/v2/clusters/meta/a/b'],
    ['POST', '/api/v2/failures//r'],
    ['HEAD', '/api/v2/version'],
    ['get', '/api/v2/version'],
    ['POST', '/api/v2/version'],
    ['DELETE', '/api/v2/metadata'],
    ['GET', '/api/v2/epoch/recovery'],
    ['PATCH', '/api/v2/proxies/meta/a:1'],
    ['GET', 'api/v2/version'],
  ];
  for (const [method, path] of misses) assert.equal(matchRoute(method, path), null, `${method} ${path}`);
});

test('routes: parameters are percent-decoded; malformed encoding is INVALID_REQUEST', () => {
  assert.deepEqual(decodeParams({ address: '127.0.0.1%3A7000', reporter: 'a%2Fb%20c' }), {
    address: '127.0.0.1:7000',
    reporter: 'a/b c',
  });
  assert.throws(
    () => decodeParams({ address: '%E0%A4%A' }),
    (err: unknown) => err instanceof BrokerError && err.code === 'INVALID_REQUEST' && /address/.test(err.message),
  );
});
