/**
 * Bounded work per request at the HTTP layer, measured from the outside: a
 * large restore does not stall the HTTP thread, one restore runs at a time,
 * body bytes in flight are capped, the body deadline is an idle deadline,
 * writes whose client left are still logged, pipelining is handled as
 * documented, and names that could not be read back are refused.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { META_VERSION } from '../../src/domain/constants.js';
import { freeProxiesDocument } from '../helpers/documents.js';
import { addProxies, call, ok, okJson, proxyAddr, startThreadedTestServer } from '../helpers/http.js';
import type { TestServer } from '../helpers/http.js';
import { requestBytes } from '../helpers/raw-http.js';

/**
 * Opens a connection and sends the head and the first `sent` bytes of
 * `body`; the rest is up to the caller. `answer` is the first whole answer,
 * or '' when the server closes the connection without one.
 */
function startUpload(
  port: number,
  path: string,
  body: Buffer,
  sent: number,
): Promise<{ socket: net.Socket; answer: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const answer = new Promise<string>((done) => {
      socket.on('data', (d: Buffer) => {
        text += d.toString('latin1');
        const end = text.indexOf('\r\n\r\n');
        const length = Number(/content-length: *(\d+)/i.exec(text)?.[1] ?? 0);
        if (end >= 0 && text.length >= end + 4 + length) done(text);
      });
      socket.on('close', () => done(text));
      socket.on('error', () => {});
    });
    socket.once('error', reject);
    socket.once('connect', () => {
      const method = path.endsWith('/metadata') ? 'PUT' : 'POST';
      socket.write(`${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`);
      socket.write(body.subarray(0, sent));
      resolve({ socket, answer });
    });
  });
}

/**
 * Polls a route answered on the HTTP thread alone, every 5 ms, until `until`
 * settles; resolves with the longest time between two answers. The server
 * runs in this process, so time the thread spent elsewhere shows as a gap.
 */
async function longestGap(s: TestServer, until: Promise<unknown>): Promise<number> {
  let done = false;
  void until.finally(() => (done = true));
  let longest = 0;
  let last = performance.now();
  while (!done) {
    // No route: answered before the handler returns, with no thread hop.
    assert.equal((await fetch(`${s.api}/nosuch`)).status, 404);
    await new Promise((r) => setTimeout(r, 5));
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }
  return longest;
}

test('a 40 MB restore is parsed and checked off the HTTP thread: a parallel client is never held up for long', async (t) => {
  const s = await startThreadedTestServer();
  t.after(() => s.close());
  const body = freeProxiesDocument(270_000);
  assert.ok(body.length > 38e6, `${body.length} bytes`);
  const restore = fetch(`${s.api}/metadata`, { method: 'PUT', body });
  const slowest = await longestGap(s, restore);
  assert.equal((await restore).status, 200);
  // Parsed on the HTTP thread, this document held it for seconds; now only its chunks pass through.
  assert.ok(slowest < 1000, `the HTTP thread stalled for ${slowest.toFixed(0)} ms`);
  const listed = (await okJson(s, 'GET', '/proxies/addresses?limit=3')) as { addresses: string[] };
  assert.equal(listed.addresses.length, 3);
});

test('one restore at a time: another is answered 503 RESTORE_IN_PROGRESS before its body is read', async (t) => {
  const s = await startThreadedTestServer();
  t.after(() => s.close());
  await addProxies(s, 1, 1);
  const document = Buffer.from(await (await fetch(`${s.api}/metadata`)).text());
  const first = await startUpload(s.server.port, '/api/v2/metadata', document, 10);
  t.after(() => first.socket.destroy());
  await new Promise((r) => setTimeout(r, 100));
  const second = await call(s, 'PUT', '/metadata', JSON.parse(document.toString()) as unknown);
  assert.equal(second.status, 503);
  assert.deepEqual(JSON.parse(second.text), { error: 'RESTORE_IN_PROGRESS' });
  first.socket.write(document.subarray(10));
  assert.match(await first.answer, /^HTTP\/1\.1 200 /);
  // Once answered, the next restore goes through.
  await ok(s, 'PUT', '/metadata', JSON.parse(document.toString()) as unknown);
});

test('body bytes in flight are capped: beyond the cap a new body is answered 503 at once', async (t) => {
  const s = await startThreadedTestServer({ maxBodyBytesInFlight: 100_000, maxMetadataBodyBytes: 100_000 });
  t.after(() => s.close());
  await addProxies(s, 1, 1);
  const held = await startUpload(s.server.port, '/api/v2/metadata', Buffer.alloc(90_000, 32), 1000);
  t.after(() => held.socket.destroy());
  await new Promise((r) => setTimeout(r, 100));
  const body = { proxy_address: '10.0.0.1:1', nodes: ['10.0.0.1:2', '10.0.0.1:3'], filler: 'x'.repeat(20_000) };
  const refused = await call(s, 'POST', '/proxies/meta', body);
  assert.equal(refused.status, 503);
  assert.deepEqual(JSON.parse(refused.text), { error: 'SERVICE_BUSY' });
  // Small bodies still fit, and the held bytes are given back with their request.
  await ok(s, 'POST', '/proxies/meta', { ...body, filler: '' });
  held.socket.destroy();
  await new Promise((r) => setTimeout(r, 100));
  await ok(s, 'POST', '/proxies/meta', { ...body, proxy_address: '10.0.0.2:1' });
});

test('the body deadline is an idle deadline plus a minimum rate: steady bodies are taken, stalled or slower ones cut', async (t) => {
  const s = await startThreadedTestServer({ bodyTimeoutSeconds: 1, minBodyBytesPerSecond: 1000 });
  t.after(() => s.close());
  const body = Buffer.from(
    JSON.stringify({ proxy_address: '10.0.0.1:1', nodes: ['10.0.0.1:2', '10.0.0.1:3'], filler: 'x'.repeat(4000) }),
  );
  // 2.4 seconds in all at about 1.7 KB/s, never a second without a byte: the old whole-body deadline of 1 s cut it.
  const steady = await startUpload(s.server.port, '/api/v2/proxies/meta', body, 0);
  const piece = Math.ceil(body.length / 8);
  for (let i = 0; i < body.length; i += piece) {
    steady.socket.write(body.subarray(i, i + piece));
    await new Promise((r) => setTimeout(r, 300));
  }
  assert.match(await steady.answer, /^HTTP\/1\.1 200 /);
  steady.socket.destroy();

  const stalled = await startUpload(s.server.port, '/api/v2/proxies/meta', body, 5);
  assert.equal(await stalled.answer, '', 'cut without an answer after a second without a byte');

  const trickle = await startUpload(s.server.port, '/api/v2/proxies/meta', body, 1);
  let sent = 1;
  const timer = setInterval(() => sent < body.length && trickle.socket.write(body.subarray(sent, (sent += 5))), 200);
  t.after(() => clearInterval(timer));
  const started = performance.now();
  assert.equal(await trickle.answer, '', 'cut: 25 bytes a second is below the minimum rate, though never idle');
  clearInterval(timer);
  assert.ok(performance.now() - started < 5000);
});

test('a write whose client leaves before the answer is applied, logged and counted', async (t) => {
  // No reply slot: the answer must come after uWS has seen the client go, the case under test.
  const s = await startThreadedTestServer({ threaded: { replyWaitMs: 0 } });
  t.after(() => s.close());
  const body = Buffer.from(JSON.stringify({ proxy_address: '10.0.0.1:1', nodes: ['10.0.0.1:2', '10.0.0.1:3'] }));
  const socket = net.connect(s.server.port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
  // Everything in one write, then gone before the owner can answer.
  socket.end(requestBytes({ method: 'POST', target: '/api/v2/proxies/meta', body }));
  socket.destroy();
  let doc: { all_proxies: Record<string, unknown> } = { all_proxies: {} };
  for (let i = 0; i < 100 && Object.keys(doc.all_proxies).length === 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
    doc = (await okJson(s, 'GET', '/metadata')) as typeof doc;
  }
  assert.deepEqual(Object.keys(doc.all_proxies), ['10.0.0.1:1']);
  for (let i = 0; i < 100 && !s.requests.some((r) => r.method === 'POST'); i++)
    await new Promise((r) => setTimeout(r, 20));
  const logged = s.requests.find((r) => r.method === 'POST');
  assert.deepEqual(logged && { route: logged.route, status: logged.status, aborted: logged.aborted }, {
    route: '/api/v2/proxies/meta',
    status: 200,
    aborted: true,
  });
});

test('pipelining: 100 requests in one write with a write among them; the write is applied and logged', async (t) => {
  const s = await startThreadedTestServer();
  t.after(() => s.close());
  await addProxies(s, 2, 1);
  await okJson(s, 'GET', '/clusters/names');
  const send = async (requests: Buffer[]): Promise<string> => {
    const socket = net.connect(s.server.port, '127.0.0.1');
    socket.on('error', () => {});
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    await new Promise((r) => socket.once('connect', r));
    socket.write(Buffer.concat(requests));
    await new Promise((r) => {
      socket.once('close', r);
      setTimeout(r, 2000);
    });
    socket.destroy();
    return text;
  };
  const read = requestBytes({ method: 'GET', target: '/api/v2/clusters/names' });
  // Reads answered from the cache are answered at once, so all 100 come back, in order.
  const answers = await send(Array.from({ length: 100 }, () => read));
  assert.equal(answers.match(/HTTP\/1\.1 200 /g)?.length, 100);
  // A write cannot be answered at once; uWebSockets.js then closes the connection (documented).
  const write = requestBytes({ method: 'POST', target: `/api/v2/failures/${proxyAddr(1, 1)}/pipelined` });
  await send(Array.from({ length: 100 }, (_, i) => (i === 50 ? write : read)));
  let failures: Record<string, Record<string, number>> = {};
  for (let i = 0; i < 100 && failures[proxyAddr(1, 1)] === undefined; i++) {
    failures = ((await okJson(s, 'GET', '/metadata')) as { failures: typeof failures }).failures;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(Object.keys(failures[proxyAddr(1, 1)] ?? {}), ['pipelined']);
  for (let i = 0; i < 100 && !s.requests.some((r) => r.route === '/api/v2/failures/:address/:reporter'); i++)
    await new Promise((r) => setTimeout(r, 20));
  assert.ok(
    s.requests.some((r) => r.route === '/api/v2/failures/:address/:reporter' && r.status === 200),
    'the applied write is logged',
  );
});

test('names a path could not carry back are refused over HTTP, and a long unknown name is answered without being kept', async (t) => {
  const s = await startThreadedTestServer();
  t.after(() => s.close());
  const refused = await call(s, 'POST', '/proxies/meta', { proxy_address: `h\ud800:1`, nodes: ['a', 'b'] });
  assert.equal(refused.status, 400);
  assert.deepEqual(JSON.parse(refused.text), { error: 'INVALID_PROXY_ADDRESS' });
  const long = await call(s, 'POST', '/proxies/meta', { proxy_address: `${'h'.repeat(70_000)}:1`, nodes: ['a', 'b'] });
  assert.equal(long.status, 400);
  // A restored document with a 1 MB failed_proxies entry is refused too.
  const doc = {
    version: META_VERSION,
    global_epoch: 1,
    clusters: {},
    all_proxies: {},
    failed_proxies: ['x'.repeat(1 << 20)],
    failures: {},
  };
  const restore = await call(s, 'PUT', '/metadata', doc);
  assert.equal(restore.status, 400);
  assert.match(restore.text, /failed_proxies/);
  assert.ok(restore.text.length < 1000);
  assert.deepEqual(await okJson(s, 'GET', '/proxies/failed/addresses'), { addresses: [] });
});
