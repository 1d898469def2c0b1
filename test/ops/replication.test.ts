import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { replicateOnce } from '../../src/replication.js';
import { deadAddress } from '../helpers/ports.js';

interface Recorded {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A replica on 127.0.0.1 that records every request and answers `status`. */
async function startReplica(
  status: number,
  answer = '',
): Promise<{ server: Server; address: string; requests: Recorded[] }> {
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      requests.push({
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, address: `127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

const BODY = JSON.stringify({
  version: 'mem-broker-0.1',
  global_epoch: 9,
  clusters: {},
  all_proxies: {},
  failed_proxies: [],
  failures: {},
  note: 'ünïcode',
});

test('replicateOnce: PUTs the document to /api/v2/metadata of every replica with the token', async () => {
  const a = await startReplica(200);
  const b = await startReplica(200);
  try {
    const results = await replicateOnce([a.address, b.address], BODY, { token: 'tok', timeoutMs: 5000 });
    assert.deepEqual(results, [
      { address: a.address, ok: true },
      { address: b.address, ok: true },
    ]);
    for (const replica of [a, b]) {
      assert.equal(replica.requests.length, 1);
      const [req] = replica.requests;
      assert.equal(req?.method, 'PUT');
      assert.equal(req?.url, '/api/v2/metadata');
      assert.equal(req?.body, BODY);
      assert.equal(req?.headers['content-type'], 'application/json');
      assert.equal(req?.headers['content-length'], String(Buffer.byteLength(BODY)));
      assert.equal(req?.headers.authorization, 'Bearer tok');
    }
  } finally {
    await stop(a.server);
    await stop(b.server);
  }
});

test('replicateOnce: without a token no Authorization header is sent', async () => {
  const a = await startReplica(200);
  try {
    assert.deepEqual(await replicateOnce([a.address], BODY), [{ address: a.address, ok: true }]);
    assert.equal(a.requests[0]?.headers.authorization, undefined);
  } finally {
    await stop(a.server);
  }
});

test('replicateOnce: failures are reported per address, never thrown', async () => {
  const good = await startReplica(200);
  const rejecting = await startReplica(409, '{"error":"INVALID_META_VERSION"}');
  const refused = deadAddress();
  try {
    const results = await replicateOnce([good.address, rejecting.address, refused, 'not an address'], BODY, {
      timeoutMs: 5000,
    });
    assert.equal(results.length, 4);
    assert.deepEqual(results[0], { address: good.address, ok: true });
    assert.equal(results[1]?.ok, false);
    assert.equal(results[1]?.error, 'HTTP 409: {"error":"INVALID_META_VERSION"}');
    assert.equal(results[2]?.address, refused);
    assert.equal(results[2]?.ok, false);
    assert.match(results[2]?.error ?? '', /ECONNREFUSED/);
    assert.equal(results[3]?.ok, false);
    assert.match(results[3]?.error ?? '', /invalid replica address/);
    assert.equal(good.requests.length, 1, 'one failing replica does not stop the others');
  } finally {
    await stop(good.server);
    await stop(rejecting.server);
  }
});

test('replicateOnce: a replica that never answers is reported as timed out', async () => {
  const sockets = new Set<Socket>();
  const server = createServer(() => {
    // never answer
  });
  server.on('connection', (s) => sockets.add(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const [result] = await replicateOnce([address], BODY, { timeoutMs: 200 });
    assert.deepEqual(result, { address, ok: false, error: 'timed out after 200 ms' });
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test('replicateOnce: no replicas, no requests', async () => {
  assert.deepEqual(await replicateOnce([], BODY), []);
});
