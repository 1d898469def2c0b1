import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { applyCommand } from '../../src/domain/commands.js';
import type { Command } from '../../src/domain/commands.js';
import { emptyStore, storeToDocument } from '../../src/domain/store.js';
import { allocateSnapshotBuffers } from '../../src/snapshot/layout.js';
import { SnapshotPublisher } from '../../src/snapshot/publisher.js';
import { SnapshotReader } from '../../src/snapshot/reader.js';
import { CTX, proxyAddress, storeWithProxies } from '../fixtures/stores.js';

/** A deterministic stream of writes touching clusters, proxies and failures. */
function* writes(): Generator<Command> {
  for (let round = 0; ; round++) {
    const name = `c${round % 5}`;
    yield { kind: 'addFailure', address: proxyAddress(1 + (round % 4), 1), reporter: `r${round % 3}` };
    yield { kind: 'addCluster', name, nodeNumber: 4 };
    yield { kind: 'changeConfig', name, config: { compression_strategy: round % 2 ? 'allow_all' : 'disabled' } };
    yield { kind: 'removeCluster', name };
    yield { kind: 'pruneFailures', ttlSeconds: 0 };
  }
}

test('SnapshotReader: a replica follows every change record and equals the store', () => {
  const store = storeWithProxies(4, 3);
  const buffers = allocateSnapshotBuffers(1 << 20);
  const publisher = new SnapshotPublisher(buffers, store);
  const reader = new SnapshotReader(buffers);
  const it = writes();
  for (let i = 0; i < 200; i++) {
    const outcome = applyCommand(store, it.next().value as Command, CTX);
    if (outcome.changes) publisher.publish(store, outcome.changes);
    const { store: replica, generation } = reader.refresh();
    assert.equal(generation, publisher.generation);
    assert.deepEqual(storeToDocument(replica), storeToDocument(store));
  }
  assert.equal(reader.fullLoads, 1, 'only the initial snapshot is loaded in full when the log has room');
});

test('SnapshotReader: a reader that falls behind a log restart reloads the full snapshot', () => {
  const store = storeWithProxies(4, 3);
  const buffers = allocateSnapshotBuffers(4096);
  const publisher = new SnapshotPublisher(buffers, store);
  const reader = new SnapshotReader(buffers);
  reader.refresh();
  const it = writes();
  for (let i = 0; i < 100; i++) {
    const outcome = applyCommand(store, it.next().value as Command, CTX);
    if (outcome.changes) publisher.publish(store, outcome.changes);
  }
  assert.ok(publisher.fullWrites > 2, 'the small log forced restarts');
  const { store: replica, generation } = reader.refresh();
  assert.equal(generation, publisher.generation);
  assert.deepEqual(storeToDocument(replica), storeToDocument(store));
  assert.equal(reader.fullLoads, 2);
});

test('publication: a restore is published as a full snapshot', () => {
  const store = emptyStore();
  const buffers = allocateSnapshotBuffers(1 << 16);
  const publisher = new SnapshotPublisher(buffers, store);
  const reader = new SnapshotReader(buffers);
  reader.refresh();
  const document = storeToDocument(storeWithProxies(2, 2));
  const outcome = applyCommand(store, { kind: 'restore', document }, CTX);
  assert.ok(outcome.ok);
  publisher.publish(store, null);
  assert.deepEqual(storeToDocument(reader.refresh().store), document);
});

/** Generations each reader must have observed, across log restarts, before the writer stops. */
const SEEN_ENOUGH = 50;

test('publication: no torn reads while real reader threads poll during continuous writes', async () => {
  const store = storeWithProxies(4, 3);
  // A small log makes the publisher restart it with full snapshots often,
  // which is where a reader could copy bytes that are being overwritten.
  const buffers = allocateSnapshotBuffers(8192);
  const publisher = new SnapshotPublisher(buffers, store);
  const expected = new Map<number, string>([[0, JSON.stringify(storeToDocument(store))]]);
  // [stop flag, generations seen by reader 0, by reader 1]: the writer runs until both readers saw enough.
  const control = new Int32Array(new SharedArrayBuffer(3 * 4));
  const workerUrl = new URL('./reader-worker.js', import.meta.url);
  const readers = [0, 1].map((index) => new Worker(workerUrl, { workerData: { buffers, control, index } }));
  let crashed: unknown = null;
  const results = readers.map(
    (w) =>
      new Promise<{ seen: { generation: number; document: string }[]; fullLoads: number }>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', (err) => ((crashed = err), reject(err)));
      }),
  );
  const it = writes();
  const deadline = Date.now() + 60_000;
  const seenBy = (reader: number) => Atomics.load(control, 1 + reader);
  const enough = () => seenBy(0) >= SEEN_ENOUGH && seenBy(1) >= SEEN_ENOUGH && publisher.fullWrites >= 3;
  while (!enough() && crashed === null && Date.now() < deadline) {
    for (let i = 0; i < 20; i++) {
      const outcome = applyCommand(store, it.next().value as Command, CTX);
      if (!outcome.changes) continue;
      const generation = publisher.publish(store, outcome.changes);
      expected.set(generation, JSON.stringify(storeToDocument(store)));
    }
    await new Promise((r) => setImmediate(r));
  }
  Atomics.store(control, 0, 1);
  const reports = await Promise.all(results);
  const progress = `readers saw ${seenBy(0)} and ${seenBy(1)} generations, ${publisher.fullWrites} full writes`;
  assert.ok(enough(), `not enough within 60 s: ${progress}`);
  let checked = 0;
  for (const { seen } of reports) {
    for (const { generation, document } of seen) {
      assert.equal(
        document,
        expected.get(generation),
        `generation ${generation} differs from the store at that generation`,
      );
      checked += 1;
    }
  }
  assert.ok(checked >= 2 * SEEN_ENOUGH, `readers observed ${checked} generations`);
});
