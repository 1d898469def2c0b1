/** Handlers without sockets: each route's backend call, and error handling. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Command } from '../../src/domain/commands.js';
import { BrokerError } from '../../src/domain/errors.js';
import type { HandlerDeps } from '../../src/http/handlers.js';
import { runHandler } from '../../src/http/handlers.js';
import type { ParsedRequest } from '../../src/http/request.js';
import { matchRoute } from '../../src/http/routes.js';
import type { CommandReply, QueryReply, QueryRequest } from '../../src/rpc/messages.js';
import type { Backend } from '../../src/rpc/backend.js';

type Call = { query: QueryRequest; min: number | undefined } | { command: Command };

/** Records every call; answers reads with `answer` and writes with an empty success. */
class RecordingBackend implements Backend {
  readonly calls: Call[] = [];
  gen = 0;
  answer: (q: QueryRequest) => string = () => '{"answer":true}';
  commandReply: (cmd: Command) => CommandReply = () => ({ ok: true, generation: ++this.gen, body: '' });

  async query(query: QueryRequest, min?: number): Promise<QueryReply> {
    this.calls.push({ query, min });
    return { generation: this.gen, body: this.answer(query) };
  }
  async command(command: Command): Promise<CommandReply> {
    this.calls.push({ command });
    return this.commandReply(command);
  }
  generation(): number {
    return this.gen;
  }
  async close(): Promise<void> {}
}

/** A logger that keeps what it was asked to log. */
function recordingLog(): { calls: unknown[][]; error(...args: unknown[]): void } {
  const calls: unknown[][] = [];
  return { calls, error: (...args: unknown[]) => void calls.push(args) };
}

function deps(backend: Backend, extra: Partial<HandlerDeps> = {}): HandlerDeps {
  return { backend, log: { error: () => undefined }, now: () => 1_700_000_123, seen: { generation: 0 }, ...extra };
}

/** Builds the request the server would hand over for `method path?query` with a JSON body. */
function request(
  method: string,
  target: string,
  body?: unknown,
): { req: ParsedRequest; handler: NonNullable<ReturnType<typeof matchRoute>>['route']['handler'] } {
  const [path, query = ''] = target.split('?') as [string, string?];
  const match = matchRoute(method, `/api/v2${path}`);
  assert.ok(match, `${method} ${target} is a route`);
  const params = Object.fromEntries(Object.entries(match.rawParams).map(([k, v]) => [k, decodeURIComponent(v)]));
  const bytes =
    body === undefined ? null : new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body));
  return { req: { method, path: `/api/v2${path}`, params, query, body: bytes }, handler: match.route.handler };
}

const MIGRATING_RANGE = {
  range_list: [[0, 100]],
  tag: {
    Migrating: {
      epoch: 3,
      src_proxy_address: 'a:1',
      src_node_address: 'a:2',
      dst_proxy_address: 'b:1',
      dst_node_address: 'b:2',
    },
  },
};

// route -> request -> the backend calls it must make (the HTTP layer's whole job).
const CASES: { name: string; method: string; target: string; body?: unknown; calls: Call[] }[] = [
  { name: 'metadata', method: 'GET', target: '/metadata', calls: [{ query: { name: 'metadata' }, min: 0 }] },
  {
    name: 'cluster names',
    method: 'GET',
    target: '/clusters/names',
    calls: [{ query: { name: 'clusterNames' }, min: 0 }],
  },
  {
    name: 'cluster names paged',
    method: 'GET',
    target: '/clusters/names?offset=2&limit=3&other=x',
    calls: [{ query: { name: 'clusterNames', offset: 2, limit: 3 }, min: 0 }],
  },
  {
    name: 'cluster meta',
    method: 'GET',
    target: '/clusters/meta/my-db',
    calls: [{ query: { name: 'clusterMeta', cluster: 'my-db' }, min: 0 }],
  },
  {
    name: 'proxy addresses',
    method: 'GET',
    target: '/proxies/addresses?limit=0',
    calls: [{ query: { name: 'proxyAddresses', limit: 0 }, min: 0 }],
  },
  {
    name: 'proxy meta',
    method: 'GET',
    target: '/proxies/meta/10.0.0.1%3A7000',
    calls: [{ query: { name: 'proxyMeta', address: '10.0.0.1:7000' }, min: 0 }],
  },
  {
    name: 'failures',
    method: 'GET',
    target: '/failures',
    calls: [{ query: { name: 'failures', now: 1_700_000_123 }, min: 0 }],
  },
  {
    name: 'failed proxies',
    method: 'GET',
    target: '/proxies/failed/addresses',
    calls: [{ query: { name: 'failedProxies' }, min: 0 }],
  },
  {
    name: 'resource check',
    method: 'POST',
    target: '/resources/failures/check',
    calls: [{ query: { name: 'checkResources' }, min: 0 }],
  },
  {
    name: 'add failure',
    method: 'POST',
    target: '/failures/a%3A1/coord%2F1',
    calls: [{ command: { kind: 'addFailure', address: 'a:1', reporter: 'coord/1' } }],
  },
  {
    name: 'failover',
    method: 'POST',
    target: '/proxies/failover/a:1',
    calls: [{ command: { kind: 'failover', address: 'a:1' } }],
  },
  {
    name: 'commit migration',
    method: 'PUT',
    target: '/clusters/migrations',
    body: { cluster_name: 'db', slot_range: MIGRATING_RANGE, extra: 1 },
    calls: [{ command: { kind: 'commitMigration', cluster_name: 'db', slot_range: MIGRATING_RANGE as never } }],
  },
  {
    name: 'add cluster',
    method: 'POST',
    target: '/clusters/meta/db',
    body: { node_number: 8 },
    calls: [{ command: { kind: 'addCluster', name: 'db', nodeNumber: 8 } }],
  },
  {
    name: 'remove cluster',
    method: 'DELETE',
    target: '/clusters/meta/db',
    calls: [{ command: { kind: 'removeCluster', name: 'db' } }],
  },
  {
    name: 'add nodes',
    method: 'PATCH',
    target: '/clusters/nodes/db',
    body: { node_number: 4 },
    calls: [{ command: { kind: 'addNodes', name: 'db', nodeNumber: 4 } }],
  },
  {
    name: 'scale nodes',
    method: 'PUT',
    target: '/clusters/nodes/db',
    body: { cluster_node_number: 12 },
    calls: [{ command: { kind: 'scaleNodes', name: 'db', clusterNodeNumber: 12 } }],
  },
  {
    name: 'delete free nodes',
    method: 'DELETE',
    target: '/clusters/free_nodes/db',
    calls: [{ command: { kind: 'deleteFreeNodes', name: 'db' } }],
  },
  {
    name: 'shrink',
    method: 'POST',
    target: '/clusters/migrations/shrink/db/4',
    calls: [{ command: { kind: 'shrink', name: 'db', nodeNumber: 4 } }],
  },
  {
    name: 'expand',
    method: 'POST',
    target: '/clusters/migrations/expand/db',
    calls: [{ command: { kind: 'expand', name: 'db' } }],
  },
  {
    name: 'change config',
    method: 'PATCH',
    target: '/clusters/config/db',
    body: { compression_strategy: 'allow_all', migration_scan_count: 32 },
    calls: [
      {
        command: {
          kind: 'changeConfig',
          name: 'db',
          config: { compression_strategy: 'allow_all', migration_scan_count: '32' },
        },
      },
    ],
  },
  {
    name: 'balance',
    method: 'PUT',
    target: '/clusters/balance/db',
    calls: [{ command: { kind: 'balanceMasters', name: 'db' } }],
  },
  {
    name: 'add proxy without host',
    method: 'POST',
    target: '/proxies/meta',
    body: { proxy_address: 'a:1', nodes: ['a:2', 'a:3'] },
    calls: [{ command: { kind: 'addProxy', proxy_address: 'a:1', nodes: ['a:2', 'a:3'], host: null } }],
  },
  {
    name: 'add proxy with host',
    method: 'POST',
    target: '/proxies/meta',
    body: { proxy_address: 'a:1', nodes: ['a:2', 'a:3'], host: 'h' },
    calls: [{ command: { kind: 'addProxy', proxy_address: 'a:1', nodes: ['a:2', 'a:3'], host: 'h' } }],
  },
  {
    name: 'remove proxy',
    method: 'DELETE',
    target: '/proxies/meta/a%3A1',
    calls: [{ command: { kind: 'removeProxy', address: 'a:1' } }],
  },
  { name: 'force epoch', method: 'PUT', target: '/epoch/77', calls: [{ command: { kind: 'forceEpoch', epoch: 77 } }] },
  {
    name: 'restore',
    method: 'PUT',
    target: '/metadata',
    body: {
      version: 'mem-broker-0.1',
      global_epoch: 1,
      clusters: {},
      all_proxies: {},
      failed_proxies: [],
      failures: {},
    },
    calls: [
      {
        command: {
          kind: 'restore',
          document: {
            version: 'mem-broker-0.1',
            global_epoch: 1,
            clusters: {},
            all_proxies: {},
            failed_proxies: [],
            failures: {},
          },
        },
      },
    ],
  },
];

for (const c of CASES) {
  test(`handlers: ${c.name} -> ${JSON.stringify(c.calls.map((x) => ('query' in x ? x.query.name : x.command.kind)))}`, async () => {
    const backend = new RecordingBackend();
    const { req, handler } = request(c.method, c.target, c.body);
    const reply = await runHandler(handler, req, deps(backend));
    assert.equal(reply.status, 200, reply.body);
    assert.deepEqual(backend.calls, c.calls);
  });
}

test('handlers: GET /version answers 0.3.0 as text without asking the backend', async () => {
  const backend = new RecordingBackend();
  const { req, handler } = request('GET', '/version');
  assert.deepEqual(await runHandler(handler, req, deps(backend)), {
    status: 200,
    contentType: 'text/plain',
    body: '0.3.0',
  });
  assert.deepEqual(backend.calls, []);
});

test('handlers: a read passes on the backend answer verbatim as JSON', async () => {
  const backend = new RecordingBackend();
  backend.answer = () => '{"names":["b","a"]}';
  const { req, handler } = request('GET', '/clusters/names');
  assert.deepEqual(await runHandler(handler, req, deps(backend)), {
    status: 200,
    contentType: 'application/json',
    body: '{"names":["b","a"]}',
  });
});

test('handlers: a write answers its body, or empty, or the error', async () => {
  const backend = new RecordingBackend();
  const d = deps(backend);
  const { req, handler } = request('POST', '/proxies/failover/a:1');
  backend.commandReply = () => ({ ok: true, generation: 1, body: '{"proxy":null}' });
  assert.deepEqual(await runHandler(handler, req, d), {
    status: 200,
    contentType: 'application/json',
    body: '{"proxy":null}',
  });
  backend.commandReply = () => ({ ok: true, generation: 2, body: '' });
  assert.deepEqual(await runHandler(handler, req, d), { status: 200, contentType: null, body: '' });
  backend.commandReply = () => ({ ok: false, generation: 2, error: { code: 'NO_AVAILABLE_RESOURCE' } });
  assert.deepEqual(await runHandler(handler, req, d), {
    status: 409,
    contentType: 'application/json',
    body: '{"error":"NO_AVAILABLE_RESOURCE"}',
  });
});

test('handlers: reads ask for at least the newest generation a write was answered at', async () => {
  const backend = new RecordingBackend();
  const d = deps(backend);
  backend.commandReply = () => ({ ok: true, generation: 9, body: '' });
  await runHandler(request('POST', '/failures/a:1/r').handler, request('POST', '/failures/a:1/r').req, d);
  backend.gen = 4; // a backend whose published generation lags the reply
  const { req, handler } = request('GET', '/failures');
  await runHandler(handler, req, d);
  assert.deepEqual(backend.calls.at(-1), { query: { name: 'failures', now: 1_700_000_123 }, min: 9 });
  backend.gen = 12;
  await runHandler(handler, req, d);
  assert.deepEqual(backend.calls.at(-1), { query: { name: 'failures', now: 1_700_000_123 }, min: 12 });
});

test('handlers: PUT /epoch/recovery asks every proxy, then recovers past the largest answer', async () => {
  const backend = new RecordingBackend();
  backend.answer = () => '{"addresses":["a:1","b:1","c:1"]}';
  const asked: string[][] = [];
  const d = deps(backend, {
    fetchProxyEpochs: async (addresses) => {
      asked.push(addresses);
      return { largest: 41, failed: ['c:1'] };
    },
  });
  const { req, handler } = request('PUT', '/epoch/recovery');
  const reply = await runHandler(handler, req, d);
  assert.deepEqual(asked, [['a:1', 'b:1', 'c:1']]);
  assert.deepEqual(backend.calls, [
    { query: { name: 'proxyAddresses' }, min: 0 },
    { command: { kind: 'recoverEpoch', largestProxyEpoch: 41 } },
  ]);
  assert.deepEqual(reply, { status: 200, contentType: 'application/json', body: '{"failed_addresses":["c:1"]}' });
});

test('handlers: PUT /epoch/recovery without an epoch fetcher counts every proxy as failed', async () => {
  const backend = new RecordingBackend();
  backend.answer = () => '{"addresses":["a:1","b:1"]}';
  const { req, handler } = request('PUT', '/epoch/recovery');
  const reply = await runHandler(handler, req, deps(backend));
  assert.deepEqual(backend.calls.at(-1), { command: { kind: 'recoverEpoch', largestProxyEpoch: 0 } });
  assert.deepEqual(JSON.parse(reply.body), { failed_addresses: ['a:1', 'b:1'] });
});

test('handlers: a failing epoch fetcher is a logged 500 and no recovery', async () => {
  const logged = recordingLog();
  const backend = new RecordingBackend();
  backend.answer = () => '{"addresses":["a:1"]}';
  const { req, handler } = request('PUT', '/epoch/recovery');
  const reply = await runHandler(
    handler,
    req,
    deps(backend, { log: logged, fetchProxyEpochs: () => Promise.reject(new Error('redis down')) }),
  );
  assert.deepEqual(
    { status: reply.status, body: JSON.parse(reply.body) as unknown },
    { status: 500, body: { error: 'INTERNAL_ERROR' } },
  );
  assert.equal(backend.calls.filter((c) => 'command' in c).length, 0);
  assert.equal(logged.calls.length, 1);
});

test('handlers: a BrokerError thrown by the backend keeps its code; any other throw is a logged 500', async () => {
  const logged = recordingLog();
  const backend = new RecordingBackend();
  const { req, handler } = request('GET', '/clusters/meta/db');
  backend.query = () => Promise.reject(new BrokerError('SERVICE_BUSY'));
  assert.deepEqual(await runHandler(handler, req, deps(backend, { log: logged })), {
    status: 503,
    contentType: 'application/json',
    body: '{"error":"SERVICE_BUSY"}',
  });
  assert.equal(logged.calls.length, 0);
  backend.query = () => Promise.reject(new RangeError('bug'));
  assert.deepEqual(await runHandler(handler, req, deps(backend, { log: logged })), {
    status: 500,
    contentType: 'application/json',
    body: '{"error":"INTERNAL_ERROR"}',
  });
  backend.query = () => {
    throw new Error('synchronous bug');
  };
  assert.equal((await runHandler(handler, req, deps(backend, { log: logged }))).status, 500);
  assert.equal(logged.calls.length, 2);
});

test('handlers: bad input is answered before the backend is asked', async () => {
  const bad: [string, string, unknown][] = [
    ['GET', '/clusters/names?offset=-1', undefined],
    ['GET', '/proxies/addresses?limit=1.5', undefined],
    ['POST', '/clusters/meta/db', '{"node_number": 8,}'],
    ['POST', '/clusters/meta/db', { node_number: '8' }],
    ['PUT', '/epoch/ten', undefined],
    ['POST', '/clusters/migrations/shrink/db/4x', undefined],
    ['PUT', '/metadata', { version: 'mem-broker-0.1' }],
  ];
  for (const [method, target, body] of bad) {
    const backend = new RecordingBackend();
    const { req, handler } = request(method, target, body);
    const reply = await runHandler(handler, req, deps(backend));
    assert.equal(reply.status, 400, `${method} ${target}`);
    assert.equal((JSON.parse(reply.body) as { error: string }).error, 'INVALID_REQUEST');
    assert.deepEqual(backend.calls, [], `${method} ${target} did not reach the backend`);
  }
});
