/**
 * The answer cache keeps encoded bytes and re-stamps epoch templates in
 * place: after any write, every read route must still answer, byte for
 * byte, what a broker without a cache computes from the same writes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { startTestServer, startThreadedTestServer } from '../helpers/http.js';
import type { TestServer } from '../helpers/http.js';

const PROXIES = Array.from({ length: 8 }, (_, i) => `127.0.0.${1 + (i % 4)}:70${10 + i}`);
const CLUSTERS = ['c1', 'c2', 'c3'];

interface Write {
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
}

const proxy = fc.constantFrom(...PROXIES);
const cluster = fc.constantFrom(...CLUSTERS);
const nodes = fc.constantFrom(2, 4, 6);

/** Every kind of write the API has, on a small fleet so that they often succeed. */
const write: fc.Arbitrary<Write> = fc.oneof(
  proxy.map((p): Write => {
    const [host, port] = p.split(':') as [string, string];
    return {
      method: 'POST',
      path: '/proxies/meta',
      body: { proxy_address: p, nodes: [`${host}:6${port}`, `${host}:7${port}`] },
    };
  }),
  proxy.map((p): Write => ({ method: 'DELETE', path: `/proxies/meta/${p}` })),
  fc
    .tuple(cluster, nodes)
    .map(([c, n]): Write => ({ method: 'POST', path: `/clusters/meta/${c}`, body: { node_number: n } })),
  cluster.map((c): Write => ({ method: 'DELETE', path: `/clusters/meta/${c}` })),
  fc
    .tuple(cluster, nodes)
    .map(([c, n]): Write => ({ method: 'PATCH', path: `/clusters/nodes/${c}`, body: { node_number: n } })),
  fc
    .tuple(cluster, nodes)
    .map(([c, n]): Write => ({ method: 'PUT', path: `/clusters/nodes/${c}`, body: { cluster_node_number: n } })),
  cluster.map((c): Write => ({ method: 'DELETE', path: `/clusters/free_nodes/${c}` })),
  fc.tuple(cluster, nodes).map(([c, n]): Write => ({ method: 'POST', path: `/clusters/migrations/shrink/${c}/${n}` })),
  cluster.map((c): Write => ({ method: 'POST', path: `/clusters/migrations/expand/${c}` })),
  fc
    .tuple(cluster, fc.constantFrom('allow_all', 'set_get_only', 'disabled'))
    .map(([c, s]): Write => ({ method: 'PATCH', path: `/clusters/config/${c}`, body: { compression_strategy: s } })),
  cluster.map((c): Write => ({ method: 'PUT', path: `/clusters/balance/${c}` })),
  fc
    .tuple(proxy, fc.constantFrom('r1', 'r2'))
    .map(([p, r]): Write => ({ method: 'POST', path: `/failures/${p}/${r}` })),
  proxy.map((p): Write => ({ method: 'POST', path: `/proxies/failover/${p}` })),
  fc.integer({ min: 0, max: 60 }).map((e): Write => ({ method: 'PUT', path: `/epoch/${e}` })),
  fc.constant<Write>({ method: 'PUT', path: '/epoch/recovery' }),
  cluster.map((c): Write => ({
    method: 'PUT',
    path: '/clusters/migrations',
    body: {
      cluster_name: c,
      slot_range: {
        start: 0,
        end: 100,
        tag: {
          Migrating: {
            epoch: 1,
            src_proxy_address: PROXIES[0],
            src_node_address: 'x',
            dst_proxy_address: PROXIES[1],
            dst_node_address: 'y',
          },
        },
      },
    },
  })),
  // A restore of the other broker's document: the whole store replaced.
  fc.constant<Write>({ method: 'RESTORE', path: '/metadata' }),
);

/** Every read route the cache serves, over every name in play and a few pages. */
function readPaths(): string[] {
  return [
    ...CLUSTERS.map((c) => `/clusters/meta/${c}`),
    '/clusters/meta/none',
    ...PROXIES.map((p) => `/proxies/meta/${p}`),
    '/proxies/meta/127.0.0.9:1',
    '/clusters/names',
    '/clusters/names?offset=1&limit=1',
    '/proxies/addresses',
    '/proxies/addresses?offset=2&limit=3',
    '/proxies/addresses?limit=100',
    '/failures',
    '/proxies/failed/addresses',
    '/metadata',
  ];
}

async function raw(
  s: TestServer,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; bytes: Buffer; type: string | null }> {
  const init: RequestInit = { method };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await fetch(s.api + path, init);
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()), type: res.headers.get('content-type') };
}

async function apply(s: TestServer, w: Write, document: string): Promise<{ status: number; bytes: Buffer }> {
  return w.method === 'RESTORE' ? raw(s, 'PUT', w.path, document) : raw(s, w.method, w.path, w.body);
}

test('cached answers are byte-identical to fresh ones after every kind of write, on every read route', async (t) => {
  const cached = await startThreadedTestServer();
  const fresh = await startTestServer();
  t.after(() => Promise.all([cached.close(), fresh.close()]));
  for (const s of [cached, fresh]) {
    for (const p of PROXIES.slice(0, 6)) {
      const [host, port] = p.split(':') as [string, string];
      assert.equal(
        (await raw(s, 'POST', '/proxies/meta', { proxy_address: p, nodes: [`${host}:6${port}`, `${host}:7${port}`] }))
          .status,
        200,
      );
    }
    assert.equal((await raw(s, 'POST', '/clusters/meta/c1', { node_number: 4 })).status, 200);
  }
  let sequences = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(write, { minLength: 1, maxLength: 14 }), async (writes) => {
      sequences += 1;
      // Each sequence starts where the last one ended, the same on both (a restore).
      const seed = (await raw(fresh, 'GET', '/metadata')).bytes.toString();
      for (const s of [cached, fresh]) assert.equal((await raw(s, 'PUT', '/metadata', seed)).status, 200);
      for (const w of writes) {
        // Read everything first, twice, so that the cache holds answers the write may outdate.
        for (const path of readPaths()) for (let i = 0; i < 2; i++) await raw(cached, 'GET', path);
        const document = (await raw(fresh, 'GET', '/metadata')).bytes.toString();
        const [a, b] = [await apply(cached, w, document), await apply(fresh, w, document)];
        assert.equal(a.status, b.status, `${w.method} ${w.path}`);
        assert.deepEqual(a.bytes, b.bytes, `${w.method} ${w.path}: write answers`);
        for (const path of readPaths()) {
          for (let i = 0; i < 2; i++) {
            let expected = await raw(fresh, 'GET', path);
            let got = await raw(cached, 'GET', path);
            // The failure list depends on the second; compare within one.
            if (path === '/failures' && !expected.bytes.equals(got.bytes))
              [expected, got] = [await raw(fresh, 'GET', path), await raw(cached, 'GET', path)];
            assert.equal(got.status, expected.status, `GET ${path} after ${w.method} ${w.path}`);
            assert.equal(got.type, expected.type, `GET ${path} content type`);
            assert.ok(
              got.bytes.equals(expected.bytes),
              `GET ${path} after ${w.method} ${w.path}:\n${got.bytes.toString()}\n!=\n${expected.bytes.toString()}`,
            );
          }
        }
      }
    }),
    { numRuns: 12, seed: 20261203, endOnFailure: true },
  );
  assert.equal(sequences, 12);
});
