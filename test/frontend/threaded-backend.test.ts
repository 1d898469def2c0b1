import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BrokerError } from '../../src/domain/errors.js';
import { ThreadedBackend } from '../../src/frontend/threaded-backend.js';
import type { ThreadedOptions } from '../../src/frontend/threaded-backend.js';
import { proxyAddress } from '../fixtures/stores.js';
import { threadedTestOptions } from '../helpers/http.js';

function options(overrides: Partial<ThreadedOptions> = {}): ThreadedOptions {
  // debug: the owner checks consistency after every write.
  return threadedTestOptions(join(mkdtempSync(join(tmpdir(), 'metabroker-')), 'metadata'), {
    debug: true,
    ...overrides,
  });
}

function addProxy(host: number, index: number) {
  return {
    kind: 'addProxy' as const,
    proxy_address: proxyAddress(host, index),
    nodes: [`127.0.0.${host}:${6000 + 2 * index}`, `127.0.0.${host}:${6001 + 2 * index}`] as const,
    host: null,
  };
}

test('ThreadedBackend: writes apply in arrival order and every read after an answer sees it', async (t) => {
  const backend = await ThreadedBackend.start(options());
  t.after(() => backend.close());
  const sent = [];
  for (let h = 1; h <= 4; h++) for (let i = 1; i <= 5; i++) sent.push(backend.command(addProxy(h, i)));
  const replies = await Promise.all(sent);
  // Arrival order: each write's generation is one more than the one before.
  replies.forEach((r, i) => {
    assert.ok(r.ok);
    assert.equal(r.generation, i + 1);
  });
  const created = await backend.command({ kind: 'addCluster', name: 'ordered', nodeNumber: 8 });
  assert.ok(created.ok);
  // Read-your-writes through the reader pool (and the answer cache).
  for (let i = 0; i < 20; i++) {
    const reply = await backend.query({ name: 'clusterMeta', cluster: 'ordered' });
    assert.ok(reply.generation >= created.generation);
    const cluster = (JSON.parse(reply.body) as { cluster: { nodes: unknown[] } }).cluster;
    assert.equal(cluster.nodes.length, 8);
  }
  const changed = await backend.command({
    kind: 'changeConfig',
    name: 'ordered',
    config: { compression_strategy: 'allow_all' },
  });
  assert.ok(changed.ok);
  const after = JSON.parse((await backend.query({ name: 'clusterMeta', cluster: 'ordered' })).body) as {
    cluster: { config: { compression_strategy: string } };
  };
  assert.equal(
    after.cluster.config.compression_strategy,
    'allow_all',
    'a cached answer was dropped when its cluster changed',
  );
  const names = JSON.parse((await backend.query({ name: 'proxyAddresses' })).body) as { addresses: string[] };
  assert.equal(names.addresses.length, 20);
});

test('ThreadedBackend: a failed write changes nothing and publishes nothing', async (t) => {
  const backend = await ThreadedBackend.start(options());
  t.after(() => backend.close());
  await backend.command(addProxy(1, 1));
  const before = await backend.query({ name: 'metadata' });
  const reply = await backend.command({ kind: 'addCluster', name: 'nope', nodeNumber: 8 });
  assert.equal(reply.ok, false);
  assert.equal(backend.generation(), before.generation);
  assert.equal((await backend.query({ name: 'metadata' })).body, before.body);
});

test('ThreadedBackend: close finishes the writes in flight and flushes the metadata file', async () => {
  const opts = options({ autoUpdateMetaFile: true });
  const backend = await ThreadedBackend.start(opts);
  const inFlight = [];
  for (let i = 1; i <= 30; i++) inFlight.push(backend.command(addProxy(1 + (i % 3), i)));
  const closing = backend.close();
  const replies = await Promise.all(inFlight);
  await closing;
  assert.ok(replies.every((r) => r.ok));
  const saved = JSON.parse(readFileSync(opts.metaFilename, 'utf8')) as { all_proxies: Record<string, unknown> };
  assert.equal(Object.keys(saved.all_proxies).length, 30);
  // Refused by the backend itself, as reads are: a thrown SERVICE_BUSY.
  await assert.rejects(
    backend.command(addProxy(9, 9)),
    (err: unknown) => err instanceof BrokerError && err.code === 'SERVICE_BUSY',
  );
});

test('ThreadedBackend: a free proxy view follows the global epoch without going stale', async (t) => {
  const backend = await ThreadedBackend.start(options());
  t.after(() => backend.close());
  await backend.command(addProxy(1, 1));
  await backend.command(addProxy(2, 1));
  const address = proxyAddress(1, 1);
  for (let i = 0; i < 5; i++) {
    const metadata = JSON.parse((await backend.query({ name: 'metadata' })).body) as { global_epoch: number };
    const view = JSON.parse((await backend.query({ name: 'proxyMeta', address })).body) as {
      proxy: { epoch: number; free_nodes: string[]; address: string };
    };
    assert.equal(view.proxy.epoch, metadata.global_epoch);
    assert.equal(view.proxy.address, address);
    assert.equal(view.proxy.free_nodes.length, 2);
    // A write elsewhere moves only the global epoch.
    await backend.command({ kind: 'addFailure', address: 'elsewhere:1', reporter: `r${i}` });
  }
  // Once the proxy joins a cluster its view is recomputed, not re-stamped.
  await backend.command({ kind: 'addCluster', name: 'c', nodeNumber: 4 });
  const joined = JSON.parse((await backend.query({ name: 'proxyMeta', address })).body) as {
    proxy: { nodes: unknown[]; free_nodes: string[] };
  };
  assert.equal(joined.proxy.nodes.length, 2);
  assert.deepEqual(joined.proxy.free_nodes, []);
});

test('ThreadedBackend: losing the owner thread is reported and later writes are refused', async () => {
  let lost: Error | null = null;
  let reported!: () => void;
  const lostReported = new Promise<void>((resolve) => (reported = resolve));
  const backend = await ThreadedBackend.start(options({ onOwnerLost: (err) => ((lost = err), reported()) }));
  try {
    assert.ok((await backend.command(addProxy(1, 1))).ok);
    // Stand-in for a crash of the owner thread.
    await (backend as unknown as { owner: { thread: { terminate(): Promise<number> } } }).owner.thread.terminate();
    await lostReported;
    assert.ok(lost !== null, 'onOwnerLost was called');
    await assert.rejects(
      backend.command(addProxy(1, 2)),
      (err: unknown) => err instanceof BrokerError && err.code === 'SERVICE_BUSY',
    );
    // Reads still answer from the last published snapshot.
    const view = JSON.parse((await backend.query({ name: 'proxyAddresses' })).body) as { addresses: string[] };
    assert.deepEqual(view.addresses, [proxyAddress(1, 1)]);
  } finally {
    await backend.close();
  }
});

test('ThreadedBackend: answers for names that do not exist, and long keys, are never cached', async (t) => {
  const backend = await ThreadedBackend.start(options());
  t.after(() => backend.close());
  assert.ok((await backend.command(addProxy(1, 1))).ok);
  const cache = (backend as unknown as { cache: { readonly size: number } }).cache;
  for (let i = 0; i < 200; i++) {
    assert.equal((await backend.query({ name: 'proxyMeta', address: `10.0.0.1:${i}` })).body, '{"proxy":null}');
    assert.equal((await backend.query({ name: 'clusterMeta', cluster: `nosuch${i}` })).body, '{"cluster":null}');
  }
  // A name far longer than any stored one: V8 hashes such strings by length alone.
  await backend.query({ name: 'proxyMeta', address: `${'x'.repeat(60_000)}:1` });
  assert.equal(cache.size, 0, 'nothing kept for names that do not exist');
  await backend.query({ name: 'proxyMeta', address: proxyAddress(1, 1) });
  assert.equal(cache.size, 1, 'an existing proxy is kept');
  assert.notEqual(backend.cached({ name: 'proxyMeta', address: proxyAddress(1, 1) }), null);
});
