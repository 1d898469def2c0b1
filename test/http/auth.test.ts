/**
 * Access control. With an api token, every 'token' route answers 401
 * UNAUTHORIZED, and changes nothing, unless the request carries
 * `Authorization: Bearer <token>`; the coordinator routes ('open') work
 * without one. Without an api token every route works with or without a
 * header. One script succeeds on every route of the table, so each is
 * shown working, not merely refused.
 * (That replication sends the token is tested in test/ops/replication.test.ts.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ROUTES } from '../../src/http/routes.js';
import { call, proxyAddr, proxyBody, withServer } from '../helpers/http.js';
import type { Answer, TestServer, TestServerOptions } from '../helpers/http.js';

const TOKEN = 's3cret';
type Headers = Record<string, string> | undefined;
const GOOD: Headers = { authorization: `Bearer ${TOKEN}` };

/** Every way of not presenting the token. */
const REFUSED: readonly Headers[] = [
  undefined,
  { authorization: 'Bearer wrong' },
  { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
  { authorization: `Bearer ${TOKEN}x` },
  { authorization: `Bearer ${TOKEN.toUpperCase()}` },
  { authorization: 'Bearer' },
  { authorization: 'Bearer ' },
  { authorization: TOKEN },
  { authorization: `Basic ${Buffer.from(TOKEN).toString('base64')}` },
  { authorization: `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}` },
  { authorization: `Token ${TOKEN}` },
  { authorization: `Bearer${TOKEN}` },
  { 'x-api-token': TOKEN },
];

const RENDER_METRICS: TestServerOptions['renderMetrics'] = async () => ({
  contentType: 'text/plain; version=0.0.4',
  body: 'up 1\n',
});

interface Ctx {
  readonly s: TestServer;
  /** What the script sends for access it needs before a step (seeding, committing). */
  readonly auth: Headers;
  metadata?: unknown;
}

interface Step {
  /** `METHOD /api/v2/pattern`, as in the route table. */
  readonly route: string;
  /** Path under /api/v2 and body, computed when the step runs. */
  readonly request: (ctx: Ctx) => Promise<[string, unknown?]> | [string, unknown?];
  /** Run after the step succeeded, with `auth`, to set up later steps. */
  readonly then?: (ctx: Ctx, answer: Answer) => Promise<void> | void;
}

async function must(ctx: Ctx, method: string, path: string, body?: unknown): Promise<Answer> {
  const a = await call(ctx.s, method, path, body, ctx.auth);
  assert.equal(a.status, 200, `${method} ${path}: ${a.status} ${a.text}`);
  return a;
}

interface SlotRangeJson {
  range_list: [number, number][];
  tag: unknown;
}

async function shownMigrations(ctx: Ctx): Promise<SlotRangeJson[]> {
  const view = (await must(ctx, 'GET', '/clusters/meta/db')).json as {
    cluster: { nodes: { slots: SlotRangeJson[] }[] };
  };
  return view.cluster.nodes.flatMap((n) =>
    n.slots.filter((s) => typeof s.tag === 'object' && s.tag !== null && 'Migrating' in s.tag),
  );
}

async function commitAll(ctx: Ctx): Promise<void> {
  for (let round = 0; round < 100; round++) {
    const shown = await shownMigrations(ctx);
    if (shown.length === 0) return;
    for (const slot_range of shown) await must(ctx, 'PUT', '/clusters/migrations', { cluster_name: 'db', slot_range });
  }
  assert.fail('migrations keep showing up');
}

const FREE = proxyAddr(4, 2);

/** One request per route, in an order where each succeeds. */
const SCRIPT: readonly Step[] = [
  { route: 'GET /version', request: () => ['/version'] },
  { route: 'GET /metrics', request: () => ['/metrics'] },
  {
    route: 'POST /proxies/meta',
    request: () => ['/proxies/meta', proxyBody(1, 1)],
    then: async (ctx) => {
      for (let h = 1; h <= 4; h++)
        for (let i = 1; i <= 2; i++) if (h + i > 2) await must(ctx, 'POST', '/proxies/meta', proxyBody(h, i));
    },
  },
  { route: 'GET /proxies/addresses', request: () => ['/proxies/addresses?offset=0&limit=100'] },
  { route: 'GET /proxies/meta/:address', request: () => [`/proxies/meta/${proxyAddr(1, 1)}`] },
  { route: 'POST /clusters/meta/:name', request: () => ['/clusters/meta/db', { node_number: 4 }] },
  { route: 'GET /clusters/names', request: () => ['/clusters/names'] },
  { route: 'GET /clusters/meta/:name', request: () => ['/clusters/meta/db'] },
  {
    route: 'PATCH /clusters/config/:name',
    request: () => ['/clusters/config/db', { compression_strategy: 'allow_all' }],
  },
  { route: 'PATCH /clusters/nodes/:name', request: () => ['/clusters/nodes/db', { node_number: 4 }] },
  { route: 'POST /clusters/migrations/expand/:name', request: () => ['/clusters/migrations/expand/db'] },
  {
    route: 'PUT /clusters/migrations',
    request: async (ctx) => {
      const [slot_range] = await shownMigrations(ctx);
      assert.ok(slot_range, 'expand shows a migration');
      return ['/clusters/migrations', { cluster_name: 'db', slot_range }];
    },
    then: commitAll,
  },
  { route: 'PUT /clusters/nodes/:name', request: () => ['/clusters/nodes/db', { cluster_node_number: 12 }] },
  { route: 'DELETE /clusters/free_nodes/:name', request: () => ['/clusters/free_nodes/db'] },
  {
    route: 'POST /clusters/migrations/shrink/:name/:node_number',
    request: () => ['/clusters/migrations/shrink/db/4'],
    then: commitAll,
  },
  { route: 'PUT /clusters/balance/:name', request: () => ['/clusters/balance/db'] },
  { route: 'POST /failures/:address/:reporter', request: () => [`/failures/${FREE}/coordinator-1`] },
  { route: 'GET /failures', request: () => ['/failures'] },
  { route: 'POST /proxies/failover/:address', request: () => [`/proxies/failover/${FREE}`] },
  { route: 'GET /proxies/failed/addresses', request: () => ['/proxies/failed/addresses'] },
  { route: 'DELETE /proxies/meta/:address', request: () => [`/proxies/meta/${FREE}`] },
  { route: 'POST /resources/failures/check', request: () => ['/resources/failures/check'] },
  { route: 'PUT /epoch/recovery', request: () => ['/epoch/recovery'] },
  { route: 'PUT /epoch/:new_epoch', request: () => ['/epoch/1000'] },
  { route: 'GET /metadata', request: () => ['/metadata'], then: (ctx, a) => void (ctx.metadata = a.json) },
  { route: 'PUT /metadata', request: (ctx) => ['/metadata', ctx.metadata] },
  { route: 'DELETE /clusters/meta/:name', request: () => ['/clusters/meta/db'] },
];

const ACCESS = new Map(ROUTES.map((r) => [`${r.method} ${r.pattern.slice('/api/v2'.length)}`, r.access]));

function methodOf(step: Step): string {
  return step.route.split(' ')[0]!;
}

test('the script has one step per route of the table', () => {
  assert.deepEqual(SCRIPT.map((s) => s.route).sort(), [...ACCESS.keys()].sort());
  // The coordinator routes of the Broker HTTP API, and only they, are open.
  const open = [...ACCESS].filter(([, access]) => access === 'open').map(([route]) => route);
  assert.deepEqual(open.sort(), [
    'GET /clusters/meta/:name',
    'GET /clusters/names',
    'GET /failures',
    'GET /proxies/addresses',
    'GET /proxies/failed/addresses',
    'GET /proxies/meta/:address',
    'POST /failures/:address/:reporter',
    'POST /proxies/failover/:address',
    'PUT /clusters/migrations',
  ]);
});

test(`with apiToken: 'token' routes answer 401 without the bearer token and change nothing; every route works with it, open ones without`, async () => {
  await withServer(
    async (s) => {
      const ctx: Ctx = { s, auth: GOOD };
      let refusals = 0;
      for (const step of SCRIPT) {
        const [path, body] = await step.request(ctx);
        const method = methodOf(step);
        const access = ACCESS.get(step.route);
        if (access === 'token') {
          const before = (await must(ctx, 'GET', '/metadata')).text;
          for (const headers of REFUSED) {
            const a = await call(s, method, path, body, headers);
            assert.equal(a.status, 401, `${step.route} with ${JSON.stringify(headers)}: ${a.status} ${a.text}`);
            assert.equal(a.contentType, 'application/json');
            assert.equal(a.text, '{"error":"UNAUTHORIZED"}');
            refusals += 1;
          }
          assert.equal(
            (await must(ctx, 'GET', '/metadata')).text,
            before,
            `${step.route}: the refused requests changed nothing`,
          );
        }
        // Open routes are called as coordinators do: with no header at all.
        const a = await call(s, method, path, body, access === 'open' ? undefined : GOOD);
        assert.equal(a.status, 200, `${step.route} (${access}): ${a.status} ${a.text}`);
        await step.then?.(ctx, a);
      }
      assert.equal(refusals, REFUSED.length * ROUTES.filter((r) => r.access === 'token').length);
    },
    { apiToken: TOKEN, renderMetrics: RENDER_METRICS },
  );
});

test('with apiToken: the scheme name is case-insensitive (RFC 9110 11.1), the token is not', async () => {
  await withServer(
    async (s) => {
      for (const authorization of [`bearer ${TOKEN}`, `BEARER ${TOKEN}`, `Bearer  ${TOKEN}`]) {
        assert.equal((await call(s, 'GET', '/metadata', undefined, { authorization })).status, 200, authorization);
      }
      assert.equal(
        (await call(s, 'GET', '/metadata', undefined, { authorization: `bearer ${TOKEN.toUpperCase()}` })).status,
        401,
      );
    },
    { apiToken: TOKEN },
  );
});

for (const [label, headers] of [
  ['no header', undefined],
  ['an Authorization header it does not check', { authorization: 'Bearer anything' }],
] as const) {
  test(`without apiToken: every route works with ${label}`, async () => {
    await withServer(
      async (s) => {
        const ctx: Ctx = { s, auth: headers };
        for (const step of SCRIPT) {
          const [path, body] = await step.request(ctx);
          const a = await call(s, methodOf(step), path, body, headers);
          assert.equal(a.status, 200, `${step.route}: ${a.status} ${a.text}`);
          await step.then?.(ctx, a);
        }
      },
      { renderMetrics: RENDER_METRICS },
    );
  });
}

test('an empty apiToken means no access control', async () => {
  await withServer(
    async (s) => {
      assert.equal((await call(s, 'GET', '/metadata')).status, 200);
      assert.equal((await call(s, 'POST', '/proxies/meta', proxyBody(1, 1))).status, 200);
    },
    { apiToken: '' },
  );
});
