import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyCommand } from '../../src/domain/commands.js';
import { emptyStore, storeFromDocument, storeToDocument } from '../../src/domain/store.js';
import type { MutableStore } from '../../src/domain/types.js';
import { storeFromSnapshotText } from '../../src/owner/rebuild.js';
import { decodeFull, decodeSlices, encodeFull, encodeSlices, sharedLines } from '../../src/snapshot/codec.js';
import { allocateSnapshotBuffers } from '../../src/snapshot/layout.js';
import type { StagedSnapshot } from '../../src/snapshot/layout.js';
import { SnapshotPublisher } from '../../src/snapshot/publisher.js';
import { SnapshotReader } from '../../src/snapshot/reader.js';
import { CTX, must, storeWithProxies } from '../fixtures/stores.js';

/** More entries than one slice holds, clusters, failure reports, a failed proxy and a `__proto__` address. */
function largeStore(): MutableStore {
  const store = storeWithProxies(700, 4);
  for (let c = 0; c < 30; c++) must(store, { kind: 'addCluster', name: `c${c}`, nodeNumber: 4 });
  const addresses = [...store.proxies.keys()];
  for (let i = 0; i < 2500; i++) store.failures.set(addresses[i]!, new Map([[`r${i % 7}`, 1_000 + i]]));
  const odd = structuredClone(store.proxies.get(addresses[0]!)!);
  store.proxies.set('__proto__', { ...odd, proxy_address: '__proto__' });
  store.failedProxies.add(addresses[1]!);
  return store;
}

test('sliced snapshot text: many lines, each small, that decode to the same store, as does one whole line', async () => {
  const store = largeStore();
  const lines = encodeSlices(store);
  assert.ok(lines.length > 3, 'the maps are split over several lines');
  assert.ok(
    lines.every((l) => !l.includes('\n')),
    'no line holds a raw newline',
  );
  const expected = storeToDocument(store);
  assert.deepEqual(storeToDocument(decodeFull(lines.join('\n'))), expected);
  assert.deepEqual(storeToDocument(decodeFull(encodeFull(store))), expected);
  const text = sharedLines(lines);
  assert.equal([...decodeSlices(new Uint8Array(text.bytes), text.length)].length, lines.length);
  const rebuilt = await storeFromSnapshotText(text);
  assert.deepEqual(storeToDocument(rebuilt), expected);
  assert.ok(Object.hasOwn(storeToDocument(rebuilt).all_proxies, '__proto__'));
  assert.deepEqual(storeToDocument(rebuilt), storeToDocument(storeFromDocument(expected)));
});

test('a whole-store replacement is decoded by the readers before it is published, and adopted without a reload', async () => {
  const store = storeWithProxies(4, 3);
  const buffers = allocateSnapshotBuffers(1 << 16);
  const reader = new SnapshotReader(buffers);
  const announced: StagedSnapshot[] = [];
  const publisher = new SnapshotPublisher(buffers, store, 0, {
    readers: 1,
    announce: (staged) => {
      announced.push(staged);
      // Still the old store: the new one is not published yet.
      assert.equal(reader.refresh().generation, 0);
      reader.preload(staged);
      assert.equal(reader.refresh().store.proxies.size, 12, 'answers from the old store meanwhile');
    },
    timeoutMs: 10_000,
  });
  assert.equal(reader.refresh().generation, 0);
  assert.ok(applyCommand(store, { kind: 'restore', built: largeStore() }, CTX).ok);
  const text = sharedLines(encodeSlices(store));
  const generation = await publisher.publishReplaced(store, text);
  assert.equal(announced.length, 1);
  assert.equal(announced[0]!.generation, generation);
  const { store: replica, generation: seen } = reader.refresh();
  assert.equal(seen, generation);
  assert.deepEqual(storeToDocument(replica), storeToDocument(store));
  assert.equal(reader.fullLoads, 1, 'only the initial snapshot was loaded from the full buffer');
});

test('readers that do not answer in time: the replacement is published anyway and loaded in full', async () => {
  const store = storeWithProxies(2, 2);
  const buffers = allocateSnapshotBuffers(1 << 16);
  const reader = new SnapshotReader(buffers);
  reader.refresh();
  const publisher = new SnapshotPublisher(buffers, store, 0, { readers: 2, announce: () => {}, timeoutMs: 50 });
  const replacement = emptyStore();
  replacement.globalEpoch = 77;
  assert.ok(applyCommand(store, { kind: 'restore', document: storeToDocument(replacement) }, CTX).ok);
  const started = performance.now();
  const generation = await publisher.publishReplaced(store);
  assert.ok(performance.now() - started >= 45, 'it waited for the readers');
  const { store: replica, generation: seen } = reader.refresh();
  assert.equal(seen, generation);
  assert.equal(replica.globalEpoch, 77);
  assert.equal(reader.fullLoads, 2);
});

test('a staged store that was never published is not adopted for another generation', async () => {
  const store = storeWithProxies(2, 2);
  const buffers = allocateSnapshotBuffers(1 << 16);
  const reader = new SnapshotReader(buffers);
  reader.refresh();
  const publisher = new SnapshotPublisher(buffers, store);
  // A stage for a generation that a plain full publication then takes.
  const decoy = largeStore();
  const decoyText = sharedLines([encodeFull(decoy)]);
  reader.preload({ bytes: decoyText.bytes, length: decoyText.length, generation: 5 });
  for (let g = 1; g < 5; g++) publisher.publish(store, null);
  store.globalEpoch = 99;
  assert.equal(publisher.publish(store, null), 5);
  const { store: replica } = reader.refresh();
  assert.equal(replica.globalEpoch, 99);
  assert.equal(replica.proxies.size, 4);
});

test('a reader that cannot decode a staged text still counts itself in, and loads the published snapshot in full', async () => {
  const store = storeWithProxies(2, 2);
  const buffers = allocateSnapshotBuffers(1 << 16);
  const reader = new SnapshotReader(buffers);
  reader.refresh();
  const broken = sharedLines(['{"clusters":']);
  const publisher = new SnapshotPublisher(buffers, store, 0, {
    readers: 1,
    announce: (staged) => reader.preload({ ...staged, bytes: broken.bytes, length: broken.length }),
    timeoutMs: 10_000,
  });
  store.globalEpoch = 42;
  const started = performance.now();
  const generation = await publisher.publishReplaced(store);
  assert.ok(performance.now() - started < 5_000, 'not waited out');
  const { store: replica, generation: seen } = reader.refresh();
  assert.equal(seen, generation);
  assert.equal(replica.globalEpoch, 42);
  assert.equal(reader.fullLoads, 2);
});
