/**
 * The transport: routing misses, body limits and parsing, query and path
 * parameters, error wire shapes from any backend, logging, abort and close.
 */
import assert from 'node:assert/strict';
import type { Logger } from '../../src/log.js';
import { connect } from 'node:net';
import { test } from 'node:test';
import { emptyStore } from '../../src/domain/store.js';
import type { ErrorCode } from '../../src/domain/errors.js';
import type { Command } from '../../src/domain/commands.js';
import type { CommandReply, QueryReply, QueryRequest } from '../../src/rpc/messages.js';
import { LocalBackend } from '../helpers/local-backend.js';
import { RawConnection } from '../helpers/raw-http.js';
import type { Backend } from '../../src/rpc/backend.js';
import {
  addProxies,
  call,
  enc,
  failsWith,
  invalidRequest,
  metadataText,
  ok,
  okJson,
  proxyAddr,
  proxyBody,
  SETTINGS,
  startTestServer,
  withServer,
} from '../helpers/http.js';

const MiB = 1024 * 1024;

/** A JSON value padded with trailing spaces to exactly `size` bytes. */
function padded(value: unknown, size: number): string {
  const text = JSON.stringify(value);
  assert.ok(text.length <= size);
  return text + ' '.repeat(size - text.length);
}

function stream(parts: string[], keepOpen = false): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const p of parts) controller.enqueue(new TextEncoder().encode(p));
      if (!keepOpen) controller.close();
    },
  });
}

const EMPTY_DOC = {
  version: 'mem-broker-0.1',
  global_epoch: 0,
  clusters: {},
  all_proxies: {},
  failed_proxies: [],
  failures: {},
};

test('unknown routes and methods answer 404 NOT_FOUND', async () => {
  await withServer(async (s) => {
    const misses: [string, string][] = [
      ['GET', '/'],
      ['GET', '/api/v2'],
      ['GET', '/api/v2/'],
      ['GET', '/api/v1/version'],
      ['GET', '/api/v2/nope'],
      ['GET', '/api/v2/version/'],
      ['POST', '/api/v2/version'],
      ['DELETE', '/api/v2/metadata'],
      ['GET', '/api/v2/clusters/meta/'],
      ['GET', '/api/v2/clusters/meta/a/b'],
      ['GET', '/api/v2/epoch/recovery'],
      ['PATCH', '/api/v2/proxies/meta/a:1'],
      ['OPTIONS', '/api/v2/version'],
    ];
    for (const [method, path] of misses) {
      const res = await fetch(s.origin + path, { method });
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal(res.headers.get('content-type'), 'application/json');
      assert.deepEqual(await res.json(), { error: 'NOT_FOUND' }, `${method} ${path}`);
    }
    // HEAD is GET without the body, on GET routes only.
    const head = await fetch(`${s.api}/version`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    assert.equal((await fetch(`${s.api}/proxies/meta`, { method: 'HEAD' })).status, 404);
  });
});

test('bodies: over 1 MiB is 413, announced or streamed; the server keeps serving', async () => {
  await withServer(async (s) => {
    await addProxies(s, 1, 1);
    const before = await metadataText(s);
    const tooBig = padded(proxyBody(2, 1), MiB + 1);
    await failsWith(s, 'POST', '/proxies/meta', tooBig, 413, 'BODY_TOO_LARGE');
    const streamed = await fetch(`${s.api}/proxies/meta`, {
      method: 'POST',
      body: stream([tooBig.slice(0, MiB), tooBig.slice(MiB)]),
      duplex: 'half',
    });
    assert.equal(streamed.status, 413);
    assert.deepEqual(await streamed.json(), { error: 'BODY_TOO_LARGE' });
    assert.equal(await metadataText(s), before, 'nothing was added');
    // Exactly at the limit is read.
    await ok(s, 'POST', '/proxies/meta', padded(proxyBody(2, 1), MiB));
    const chunked = await fetch(`${s.api}/proxies/meta`, {
      method: 'POST',
      body: stream(['{"proxy_address":"127.0.0.3:7001",', '"nodes":["a:1","a:2"]}']),
      duplex: 'half',
    });
    assert.equal(chunked.status, 200, await chunked.text());
    assert.deepEqual(await okJson(s, 'GET', '/proxies/addresses'), {
      addresses: [proxyAddr(1, 1), proxyAddr(2, 1), proxyAddr(3, 1)],
    });
  });
});

test('bodies: PUT /metadata has its own limit, larger by default', async () => {
  await withServer(async (s) => {
    await ok(s, 'PUT', '/metadata', padded({ ...EMPTY_DOC, global_epoch: 3 }, MiB + MiB / 2));
    assert.equal((JSON.parse(await metadataText(s)) as { global_epoch: number }).global_epoch, 3);
  });
  await withServer(
    async (s) => {
      await failsWith(s, 'PUT', '/metadata', padded({ ...EMPTY_DOC, global_epoch: 4 }, 2049), 413, 'BODY_TOO_LARGE');
      await ok(s, 'PUT', '/metadata', padded({ ...EMPTY_DOC, global_epoch: 5 }, 2048));
      assert.equal((JSON.parse(await metadataText(s)) as { global_epoch: number }).global_epoch, 5);
      // Other routes keep the 1 MiB limit, even when it is larger than the metadata one.
      await ok(s, 'POST', '/proxies/meta', padded(proxyBody(1, 1), 4096));
    },
    { maxMetadataBodyBytes: 2048 },
  );
});

test('bodies: a configured body limit applies to every JSON route but PUT /metadata', async () => {
  await withServer(
    async (s) => {
      await failsWith(s, 'POST', '/proxies/meta', padded(proxyBody(1, 1), 101), 413, 'BODY_TOO_LARGE');
      await failsWith(
        s,
        'PATCH',
        '/clusters/config/db',
        padded({ compression_strategy: 'disabled' }, 101),
        413,
        'BODY_TOO_LARGE',
      );
      await ok(s, 'POST', '/proxies/meta', padded(proxyBody(1, 1), 100));
      await ok(s, 'PUT', '/metadata', padded(EMPTY_DOC, 500));
    },
    { maxBodyBytes: 100 },
  );
});

test('bodies: malformed, empty and non-UTF-8 bodies are INVALID_REQUEST', async () => {
  await withServer(async (s) => {
    await invalidRequest(s, 'POST', '/proxies/meta', '{"proxy_address": ', /^malformed JSON: /);
    await invalidRequest(s, 'POST', '/proxies/meta', 'proxy_address=a:1', /^malformed JSON: /);
    await invalidRequest(s, 'POST', '/proxies/meta', undefined, 'a JSON body is required');
    await invalidRequest(s, 'PUT', '/metadata', '', 'a JSON body is required');
    const res = await fetch(`${s.api}/clusters/meta/db`, { method: 'POST', body: new Uint8Array([0x7b, 0xff, 0x7d]) });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { error: 'INVALID_REQUEST', message: 'the body is not valid UTF-8' });
  });
});

test('bodies: a body on a route that takes none is ignored, whatever its size', async () => {
  await withServer(async (s) => {
    await failsWith(s, 'POST', '/clusters/migrations/expand/db', 'not json at all', 404, 'CLUSTER_NOT_FOUND');
    await failsWith(s, 'DELETE', '/clusters/meta/db', 'x'.repeat(2 * MiB), 404, 'CLUSTER_NOT_FOUND');
    assert.equal(await (await fetch(`${s.api}/version`)).text(), '0.3.0');
  });
});

test('path parameters are percent-decoded; malformed encoding is INVALID_REQUEST', async () => {
  await withServer(async (s) => {
    await addProxies(s, 1, 1);
    const encoded = proxyAddr(1, 1).replace(':', '%3A');
    const view = (await okJson(s, 'GET', `/proxies/meta/${encoded}`)) as { proxy: { address: string } };
    assert.equal(view.proxy.address, proxyAddr(1, 1));
    await ok(s, 'POST', `/failures/${encoded}/reporter%231%3F`);
    const d = JSON.parse(await metadataText(s)) as { failures: Record<string, Record<string, number>> };
    assert.deepEqual(Object.keys(d.failures[proxyAddr(1, 1)]!), ['reporter#1?']);
    // A reporter id a path could not carry back as it is: space, '/' and '%' are refused.
    await invalidRequest(s, 'POST', `/failures/${encoded}/reporter%20%2F%201`, undefined, 'reporter');
    await invalidRequest(s, 'GET', '/proxies/meta/%E0%A4%A', undefined, 'address');
    await invalidRequest(s, 'POST', `/failures/${encoded}/%ZZ`, undefined, 'reporter');
    await invalidRequest(s, 'DELETE', '/clusters/meta/%', undefined, 'name');
  });
});

test('query parameters: offset and limit must be non-negative integers; others are ignored', async () => {
  await withServer(async (s) => {
    await addProxies(s, 1, 3);
    assert.deepEqual(await okJson(s, 'GET', '/proxies/addresses?offset=1&limit=1&sort=desc'), {
      addresses: [proxyAddr(1, 2)],
    });
    assert.deepEqual(await okJson(s, 'GET', '/clusters/names?foo=bar'), { names: [] });
    for (const q of [
      'offset=-1',
      'offset=abc',
      'limit=1.5',
      'limit=',
      'offset=1e2',
      'limit=%2B1',
      'offset=9007199254740992',
      'offset=1&offset=2',
    ]) {
      const name = q.startsWith('offset') ? 'offset' : 'limit';
      await invalidRequest(s, 'GET', `/proxies/addresses?${q}`, undefined, `query parameter ${name}`);
      await invalidRequest(s, 'GET', `/clusters/names?${q}`, undefined, `query parameter ${name}`);
    }
  });
});

/** A backend whose writes answer a fixed error and whose reads may throw. */
class ScriptedBackend implements Backend {
  readonly inner = new LocalBackend(emptyStore(), SETTINGS);
  commandError: ErrorCode | null = null;
  queryThrows: Error | null = null;

  query(q: QueryRequest): Promise<QueryReply> {
    if (this.queryThrows) return Promise.reject(this.queryThrows);
    return this.inner.query(q);
  }
  command(cmd: Command): Promise<CommandReply> {
    if (this.commandError)
      return Promise.resolve({
        ok: false,
        generation: this.inner.generation(),
        error: { code: this.commandError, message: 'detail' },
      });
    return this.inner.command(cmd);
  }
  generation(): number {
    return this.inner.generation();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

test('errors from the backend: each code with its status and exact body', async () => {
  const backend = new ScriptedBackend();
  await withServer(
    async (s) => {
      const cases: [ErrorCode, number][] = [
        ['UNAUTHORIZED', 401],
        ['SERVICE_BUSY', 503],
        ['PERSISTENCE_IO_ERROR', 500],
        ['INTERNAL_ERROR', 500],
        ['RESOURCE_NOT_BALANCE', 409],
        ['MIGRATION_RUNNING', 409],
      ];
      for (const [code, status] of cases) {
        backend.commandError = code;
        await failsWith(s, 'POST', '/clusters/meta/db', { node_number: 4 }, status, code);
      }
      backend.commandError = 'INVALID_REQUEST';
      assert.deepEqual((await call(s, 'POST', '/clusters/meta/db', { node_number: 4 })).json, {
        error: 'INVALID_REQUEST',
        message: 'detail',
      });
    },
    { backend },
  );
});

test('a backend that throws gets a logged 500 INTERNAL_ERROR, and the server lives on', async () => {
  const logged: unknown[][] = [];
  const log = { error: (...args: unknown[]) => void logged.push(args) } as unknown as Logger;
  const backend = new ScriptedBackend();
  await withServer(
    async (s) => {
      backend.queryThrows = new TypeError('cannot read properties of undefined');
      await failsWith(s, 'GET', '/clusters/names', undefined, 500, 'INTERNAL_ERROR');
      await failsWith(s, 'GET', '/metadata', undefined, 500, 'INTERNAL_ERROR');
      assert.equal(logged.length, 2);
      assert.match(JSON.stringify(logged[0]), /GET \/api\/v2\/clusters\/names/);
      backend.queryThrows = null;
      assert.deepEqual(await okJson(s, 'GET', '/clusters/names'), { names: [] });
    },
    { backend, log },
  );
});

test('onRequest reports method, route pattern, status and time of every answered request', async () => {
  await withServer(async (s) => {
    await call(s, 'GET', '/version');
    await call(s, 'GET', `/proxies/meta/${enc('a:1')}`);
    await call(s, 'POST', '/clusters/meta/db', { node_number: 4 });
    await call(s, 'GET', '/nope');
    await call(s, 'GET', '/proxies/meta/%');
    await call(s, 'POST', '/proxies/meta', 'x'.repeat(MiB + 1));
    assert.deepEqual(
      s.requests.map(({ method, route, status }) => ({ method, route, status })),
      [
        { method: 'GET', route: '/api/v2/version', status: 200 },
        { method: 'GET', route: '/api/v2/proxies/meta/:address', status: 200 },
        { method: 'POST', route: '/api/v2/clusters/meta/:name', status: 409 },
        { method: 'GET', route: '*', status: 404 },
        { method: 'GET', route: '/api/v2/proxies/meta/:address', status: 400 },
        { method: 'POST', route: '/api/v2/proxies/meta', status: 413 },
      ],
    );
    for (const r of s.requests) assert.ok(r.ms >= 0 && r.ms < 10_000);
  });
});

test('a client that aborts mid-body leaves the server serving, and close() still resolves', async () => {
  const s = await startTestServer();
  let closed = false;
  try {
    // The head and part of the body, then the client goes: the bytes are in the server's socket before the FIN.
    const socket = connect(s.server.port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const head = ['POST /api/v2/proxies/meta HTTP/1.1', 'Host: 127.0.0.1', 'Content-Type: application/json'];
    head.push('Content-Length: 100');
    const sent = `${head.join('\r\n')}\r\n\r\n{"proxy_address":`;
    await new Promise<void>((resolve, reject) => socket.write(sent, (err) => (err ? reject(err) : resolve())));
    socket.destroy();
    // One server thread, connections served in arrival order: once this later request is answered, the abort was seen.
    assert.equal(await (await fetch(`${s.api}/version`)).text(), '0.3.0');
    const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('timeout'), 2000).unref());
    assert.equal(await Promise.race([s.close().then(() => 'closed'), timeout]), 'closed');
    closed = true;
  } finally {
    if (!closed) await s.close();
  }
  assert.deepEqual(
    s.requests.map((r) => r.route),
    ['/api/v2/version'],
    'the aborted request is not reported',
  );
});

test('close() stops accepting connections', async () => {
  const s = await startTestServer();
  assert.equal((await fetch(`${s.api}/version`, { headers: { connection: 'close' } })).status, 200);
  await s.close();
  await s.close(); // idempotent
  await assert.rejects(fetch(`${s.api}/version`, { headers: { connection: 'close' } }));
});

test('close() waits for the requests in flight', async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let entered!: () => void;
  const inBackend = new Promise<void>((resolve) => (entered = resolve));
  const inner = new LocalBackend(emptyStore(), SETTINGS);
  const slow: Backend = {
    query: async (q) => (entered(), await gate, inner.query(q)),
    command: (cmd) => inner.command(cmd),
    generation: () => inner.generation(),
    close: () => inner.close(),
  };
  const s = await startTestServer({ backend: slow });
  const answer = fetch(`${s.api}/clusters/names`);
  await inBackend;
  let closed = false;
  const closing = s.server.close().then(() => (closed = true));
  // close() has done all it does at once (new connections are refused), yet it has not resolved.
  await assert.rejects(fetch(`${s.api}/version`, { headers: { connection: 'close' } }));
  assert.equal(closed, false, 'close() waits while a request is in flight');
  release();
  const res = await answer;
  assert.deepEqual(await res.json(), { names: [] });
  await closing;
  assert.equal(closed, true);
  await s.close();
});

test('two servers on port 0 get distinct real ports', async () => {
  const a = await startTestServer();
  const b = await startTestServer();
  try {
    assert.notEqual(a.server.port, b.server.port);
    assert.ok(a.server.port > 0 && b.server.port > 0);
    await okJson(a, 'GET', '/metadata');
    await okJson(b, 'GET', '/metadata');
  } finally {
    await a.close();
    await b.close();
  }
});

test('close: requests in flight finish; new requests on open keep-alive connections get 503 SERVICE_BUSY', async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const inner = new LocalBackend(emptyStore(), SETTINGS);
  let entered!: () => void;
  const inBackend = new Promise<void>((resolve) => (entered = resolve));
  const backend: Backend = {
    query: async (q) => {
      if (q.name === 'clusterNames') {
        entered();
        await gate;
      }
      return inner.query(q);
    },
    command: (cmd) => inner.command(cmd),
    generation: () => inner.generation(),
    close: () => inner.close(),
  };
  const s = await startTestServer({ backend });
  const held = new RawConnection(s.server.port);
  const other = new RawConnection(s.server.port);
  try {
    assert.equal((await other.send({ method: 'GET', target: '/api/v2/version' }))?.status, 200);
    const slow = held.send({ method: 'GET', target: '/api/v2/clusters/names' });
    await inBackend;
    const closing = s.server.close();
    const refused = await other.send({ method: 'GET', target: '/api/v2/version' });
    assert.equal(refused?.status, 503);
    assert.deepEqual(JSON.parse(refused.text), { error: 'SERVICE_BUSY' });
    release();
    const answered = await slow;
    assert.equal(answered?.status, 200);
    assert.deepEqual(JSON.parse(answered.text), { names: [] });
    await closing;
  } finally {
    held.close();
    other.close();
    await backend.close();
  }
});
