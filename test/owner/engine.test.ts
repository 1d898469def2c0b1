/**
 * The owner's write path with a storage whose commit fails: the command is
 * rolled back, nothing is published, the answer carries the storage's
 * code, and the next command is unaffected. Sync and async failures both.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Command } from '../../src/domain/commands.js';
import { storeToDocument } from '../../src/domain/store.js';
import type { MutableStore } from '../../src/domain/types.js';
import { createLogger } from '../../src/log.js';
import { OwnerEngine } from '../../src/owner/engine.js';
import { allocateSnapshotBuffers } from '../../src/snapshot/layout.js';
import { SnapshotPublisher } from '../../src/snapshot/publisher.js';
import { SnapshotReader } from '../../src/snapshot/reader.js';
import { StorageError } from '../../src/storage/storage.js';
import type { CommitRequest, Storage } from '../../src/storage/storage.js';
import { CTX, must, proxyAddress, storeWithProxies } from '../fixtures/stores.js';
import { snapshot } from '../helpers/invariants.js';

type Mode = 'ok' | 'throw' | 'reject' | 'bug';

/** A storage that records what it was asked to commit and fails as told. */
class FakeStorage implements Storage {
  mode: Mode = 'ok';
  refuse: StorageError | null = null;
  revision = 10;
  readonly requests: { kind: string; next: string; replacesStore: boolean }[] = [];

  writable(): StorageError | null {
    return this.refuse;
  }

  commit(request: CommitRequest): number | Promise<number> {
    // What the command would have made durable, taken before the owner rolls it back.
    const next = JSON.stringify(storeToDocument(request.next));
    this.requests.push({ kind: request.kind, next, replacesStore: request.replacesStore });
    switch (this.mode) {
      case 'ok':
        return ++this.revision;
      case 'throw':
        throw new StorageError('PERSISTENCE_IO_ERROR', 'ENOTDIR: not a directory');
      case 'reject':
        return Promise.reject(new StorageError('STORAGE_UNAVAILABLE', 'etcd did not confirm the change'));
      case 'bug':
        throw new TypeError('not a StorageError');
    }
  }
}

interface Rig {
  readonly store: MutableStore;
  readonly storage: FakeStorage;
  readonly engine: OwnerEngine;
  readonly publisher: SnapshotPublisher;
  readonly reader: SnapshotReader;
  readonly logs: { level: string; msg: string; code?: string; command?: string }[];
}

function rig(): Rig {
  const store = storeWithProxies(3, 2);
  must(store, { kind: 'addCluster', name: 'db', nodeNumber: 4 });
  const buffers = allocateSnapshotBuffers(1 << 20);
  const publisher = new SnapshotPublisher(buffers, store);
  const reader = new SnapshotReader(buffers);
  const storage = new FakeStorage();
  const logs: Rig['logs'] = [];
  const sink = { write: (line: string) => void logs.push(JSON.parse(line) as Rig['logs'][number]) };
  const log = createLogger({ debug: false }, sink);
  const engine = new OwnerEngine(store, publisher, storage, {
    settings: { failureTtl: 60, failureQuorum: 1, migrationLimit: 1 },
    debug: true,
    log,
    now: () => CTX.now,
  });
  return { store, storage, engine, publisher, reader, logs };
}

/** What anyone could observe of the owner: its store, its generation and revision, and what a reader sees. */
interface Observed {
  readonly store: string;
  readonly generation: number;
  readonly revision: number;
  readonly readerGeneration: number;
  readonly readerStore: string;
}

function observed(r: Rig): Observed {
  const { store, generation } = r.reader.refresh();
  return {
    store: snapshot(r.store),
    generation: r.engine.generation,
    revision: r.engine.revision,
    readerGeneration: generation,
    readerStore: snapshot(store),
  };
}

const free = (store: MutableStore) => [...store.proxies.values()].find((p) => p.cluster === null)!.proxy_address;

/** Writes of every shape: new keys, changed records, a partial failure whose changes stand, a restore. */
function writes(store: MutableStore): Command[] {
  const reported = free(store);
  const proxy = store.proxies.get(reported)!;
  return [
    { kind: 'addCluster', name: 'other', nodeNumber: 4 },
    { kind: 'changeConfig', name: 'db', config: { compression_strategy: 'allow_all' } },
    { kind: 'removeProxy', address: proxyAddress(3, 2) },
    { kind: 'addFailure', address: reported, reporter: 'r1' },
    { kind: 'forceEpoch', epoch: store.globalEpoch + 100 },
    // ALREADY_EXISTED with changes that stand (the proxy is recovered): still not committed, so still rolled back.
    { kind: 'addProxy', proxy_address: reported, nodes: [...proxy.node_addresses], host: proxy.host },
    { kind: 'restore', document: { ...storeToDocument(storeWithProxies(1, 1)), global_epoch: store.globalEpoch + 5 } },
  ];
}

for (const [mode, code] of [
  ['throw', 'PERSISTENCE_IO_ERROR'],
  ['reject', 'STORAGE_UNAVAILABLE'],
  ['bug', 'INTERNAL_ERROR'],
] as const) {
  const name = `engine: a commit that fails (${mode}) rolls the command back, publishes nothing and answers ${code}`;
  test(name, async () => {
    const r = rig();
    // A reported proxy first, so that the re-add below has something to recover.
    const reported = await r.engine.execute({ kind: 'addFailure', address: free(r.store), reporter: 'r0' });
    assert.equal(reported.reply.ok, true);
    r.storage.mode = mode;
    for (const cmd of writes(r.store)) {
      const before = observed(r);
      const requests = r.storage.requests.length;
      const executed = await r.engine.execute(cmd);
      assert.equal(r.storage.requests.length, requests + 1, `${cmd.kind} reached the storage`);
      assert.notEqual(r.storage.requests.at(-1)!.next, before.store, `${cmd.kind} had a change to commit`);
      assert.equal(executed.reply.ok, false, cmd.kind);
      assert.equal(executed.reply.ok === false && executed.reply.error.code, code, cmd.kind);
      assert.equal(executed.reply.generation, before.generation);
      assert.equal(executed.changes, null, `${cmd.kind}: no change summary, so nothing is announced`);
      assert.deepEqual(observed(r), before, `${cmd.kind} left no trace`);
    }
    const logged = r.logs.filter((l) => l.level === 'error');
    assert.equal(logged.length, writes(r.store).length, 'each failure is logged once');
    if (mode !== 'bug') {
      assert.ok(logged.every((l) => l.code === code && l.msg === 'change not committed; rolled back'));
    }

    // The storage works again: the same writes succeed and are published, one generation each.
    r.storage.mode = 'ok';
    for (const cmd of writes(r.store)) {
      const before = observed(r);
      const executed = await r.engine.execute(cmd);
      const expectOk = cmd.kind !== 'addProxy';
      assert.equal(executed.reply.ok, expectOk, `${cmd.kind}: ${JSON.stringify(executed.reply)}`);
      assert.ok(executed.changes !== null, `${cmd.kind} published`);
      const after = observed(r);
      assert.equal(after.generation, before.generation + 1);
      assert.equal(after.revision, r.storage.revision);
      assert.equal(after.readerGeneration, after.generation);
      assert.equal(after.readerStore, after.store, 'readers see the committed store');
      assert.equal(r.storage.requests.at(-1)!.next, after.store, 'what was committed is what is published');
    }
  });
}

test('engine: a write the storage refuses up front never reaches commit', async () => {
  const r = rig();
  r.storage.refuse = new StorageError('NOT_LEADER', 'broker b at http://b is the leader');
  const before = observed(r);
  const executed = await r.engine.execute({ kind: 'addCluster', name: 'other', nodeNumber: 4 });
  assert.deepEqual(executed.reply, {
    ok: false,
    generation: before.generation,
    revision: before.revision,
    error: { code: 'NOT_LEADER', message: 'broker b at http://b is the leader' },
  });
  assert.equal(r.storage.requests.length, 0);
  assert.deepEqual(observed(r), before);
});

test('engine: a failed commit does not hold up the commands queued behind it', async () => {
  const r = rig();
  r.storage.mode = 'reject';
  // All queued at once, before the first has run: the storage recovers between them, in queue order.
  const first = r.engine.execute({ kind: 'addCluster', name: 'first', nodeNumber: 4 });
  const recovered = r.engine.serial(() => (r.storage.mode = 'ok'));
  const second = r.engine.execute({ kind: 'addCluster', name: 'second', nodeNumber: 4 });
  const [a, , b] = await Promise.all([first, recovered, second]);
  assert.equal(a.reply.ok === false && a.reply.error.code, 'STORAGE_UNAVAILABLE');
  assert.equal(b.reply.ok, true);
  assert.deepEqual([...r.store.clusters.keys()].sort(), ['db', 'second']);
  assert.deepEqual(
    r.storage.requests.map((q) => q.kind),
    ['addCluster', 'addCluster'],
  );
});

test('engine: a command that changes nothing is answered without a commit', async () => {
  const r = rig();
  r.storage.mode = 'throw';
  const before = observed(r);
  const executed = await r.engine.execute({ kind: 'removeCluster', name: 'nope' });
  assert.equal(executed.reply.ok === false && executed.reply.error.code, 'CLUSTER_NOT_FOUND');
  assert.equal(r.storage.requests.length, 0);
  assert.deepEqual(observed(r), before);
});
