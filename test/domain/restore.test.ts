import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyCommand } from '../../src/domain/commands.js';
import { emptyStore, storeFromDocument, storeToDocument } from '../../src/domain/store.js';
import type { ChunkStore, ClusterStore, MetaDocument, MutableStore } from '../../src/domain/types.js';
import { CTX, must, storeWithProxies } from '../fixtures/stores.js';
import { commitAllShown } from '../helpers/coordinator.js';
import { buildDocument, cloneDocument } from '../helpers/documents.js';
import { failsUnchanged, succeeds } from '../helpers/expect.js';
import { assertConsistent, snapshot } from '../helpers/invariants.js';

/** A busy store: two clusters, one expanding, a failed proxy and reports. */
function busyStore(): MutableStore {
  const store = storeWithProxies(4, 3);
  must(store, { kind: 'addCluster', name: 'a', nodeNumber: 4 });
  must(store, { kind: 'addCluster', name: 'b', nodeNumber: 4 });
  must(store, { kind: 'addNodes', name: 'b', nodeNumber: 4 });
  must(store, { kind: 'expand', name: 'b' });
  must(store, { kind: 'changeConfig', name: 'a', config: { compression_strategy: 'allow_all' } });
  must(store, { kind: 'addFailure', address: '127.0.0.4:7003', reporter: 'r1' });
  must(store, { kind: 'failover', address: store.clusters.get('a')!.chunks[0]!.proxy_addresses[1] });
  return store;
}

describe('restore', () => {
  test('replaces the whole store with the document, epoch included', () => {
    const source = busyStore();
    const doc = storeToDocument(source);
    const target = storeWithProxies(2, 1);
    must(target, { kind: 'forceEpoch', epoch: 10_000 });
    const outcome = applyCommand(target, { kind: 'restore', document: cloneDocument(doc) }, CTX);
    assert.ok(outcome.ok);
    assert.equal(snapshot(target), snapshot(source), 'the restored document is the one given, not newer');
    assert.equal(target.globalEpoch, source.globalEpoch);
    assertConsistent(target);
  });

  test('document round trip is lossless', () => {
    const doc = cloneDocument(storeToDocument(busyStore()));
    assert.deepEqual(storeToDocument(storeFromDocument(cloneDocument(doc))), doc);
  });

  test('a restored store keeps working: migrations commit, allocation sees the restored fleet', () => {
    const store = emptyStore();
    must(store, { kind: 'restore', document: cloneDocument(storeToDocument(busyStore())) });
    commitAllShown(store, 'b', CTX, () => assertConsistent(store));
    // 12 proxies: 6 in clusters, 1 failed, 1 reported => 4 usable on distinct hosts.
    succeeds(store, { kind: 'addCluster', name: 'c', nodeNumber: 8 });
    assertConsistent(store);
  });

  test('a chunk with both halves on one host is accepted (the reference can build one)', () => {
    const store = emptyStore();
    must(store, {
      kind: 'restore',
      document: buildDocument({ proxies: ['h1:1', 'h1:2'], clusters: { c: [['h1:1', 'h1:2']] } }),
    });
    assertConsistent(store, { allowSameHostChunks: true });
    assert.throws(() => assertConsistent(store), /both halves/, 'the invariant helper notices it');
  });

  test('an empty document restores an empty store', () => {
    const store = busyStore();
    must(store, { kind: 'restore', document: storeToDocument(emptyStore()) });
    assert.equal(store.clusters.size + store.proxies.size + store.failedProxies.size + store.failures.size, 0);
    assert.equal(store.globalEpoch, 0);
  });

  const versions = ['mem-broker-0.2', 'mem-broker-0.1 ', '', 'MEM-BROKER-0.1'];
  for (const version of versions) {
    test(`INVALID_META_VERSION: ${JSON.stringify(version)}, before any consistency check`, () => {
      const doc = {
        ...cloneDocument(storeToDocument(busyStore())),
        version,
        clusters: { 'bad name': {} as ClusterStore },
      };
      failsUnchanged(busyStore(), { kind: 'restore', document: doc }, 'INVALID_META_VERSION');
    });
  }

  function base(): MetaDocument {
    return buildDocument({
      proxies: ['h1:1', 'h2:1', 'h3:1', 'h4:1', 'h5:1'],
      clusters: {
        c: [
          ['h1:1', 'h2:1'],
          ['h3:1', 'h4:1'],
        ],
      },
    });
  }
  function editChunk(doc: MetaDocument, index: number, edit: (c: ChunkStore) => ChunkStore): MetaDocument {
    const cluster = doc.clusters.c!;
    doc.clusters.c = { ...cluster, chunks: cluster.chunks.map((c, i) => (i === index ? edit(c) : c)) };
    return doc;
  }
  const meta = { epoch: 10, src_chunk_index: 0, src_chunk_part: 0, dst_chunk_index: 1, dst_chunk_part: 0 };

  const inconsistent: { name: string; edit: (d: MetaDocument) => MetaDocument; problem: RegExp }[] = [
    {
      name: 'a proxy record under another address',
      edit: (d) => ((d.all_proxies['h5:1'] = { ...d.all_proxies['h5:1']!, proxy_address: 'h5:2' }), d),
      problem: /record names/,
    },
    {
      name: 'a cluster record under another name',
      edit: (d) => ((d.clusters.c = { ...d.clusters.c!, name: 'd' }), d),
      problem: /record names/,
    },
    {
      name: 'an invalid cluster name',
      edit: (d) => {
        d.clusters['c d'] = { ...d.clusters.c!, name: 'c d' };
        delete d.clusters.c;
        for (const p of Object.values(d.all_proxies))
          if (p.cluster === 'c') d.all_proxies[p.proxy_address] = { ...p, cluster: 'c d' };
        return d;
      },
      problem: /invalid cluster name/,
    },
    {
      name: 'a chunk naming an unknown proxy',
      edit: (d) => (delete d.all_proxies['h1:1'], d),
      problem: /not a known proxy/,
    },
    {
      name: 'a proxy in two chunks',
      edit: (d) =>
        editChunk(d, 1, (c) => ({ ...c, proxy_addresses: ['h1:1', c.proxy_addresses[1]], hosts: ['h1', c.hosts[1]] })),
      problem: /also in/,
    },
    {
      name: 'a proxy in two clusters',
      edit: (d) => {
        const other = buildDocument({ proxies: ['h1:1', 'h5:1'], clusters: { e: [['h1:1', 'h5:1']] } });
        d.clusters.e = other.clusters.e!;
        d.all_proxies['h5:1'] = { ...d.all_proxies['h5:1']!, cluster: 'e' };
        return d;
      },
      problem: /also in/,
    },
    {
      name: 'a proxy in a chunk that says it is free',
      edit: (d) => ((d.all_proxies['h2:1'] = { ...d.all_proxies['h2:1']!, cluster: null }), d),
      problem: /says its cluster/,
    },
    {
      name: 'a chunk host that is not the proxy host',
      edit: (d) => editChunk(d, 0, (c) => ({ ...c, hosts: ['h9', c.hosts[1]] })),
      problem: /host of/,
    },
    {
      name: 'chunk node addresses that are not the proxy nodes',
      edit: (d) =>
        editChunk(d, 0, (c) => ({
          ...c,
          node_addresses: [c.node_addresses[1], c.node_addresses[0], c.node_addresses[2], c.node_addresses[3]],
        })),
      problem: /node addresses/,
    },
    {
      name: 'a proxy of a missing cluster',
      edit: (d) => ((d.all_proxies['h5:1'] = { ...d.all_proxies['h5:1']!, cluster: 'gone' }), d),
      problem: /does not exist/,
    },
    {
      name: 'a proxy claiming a cluster without being in it',
      edit: (d) => ((d.all_proxies['h5:1'] = { ...d.all_proxies['h5:1']!, cluster: 'c' }), d),
      problem: /not in any chunk/,
    },
    {
      name: 'a slot owned twice',
      edit: (d) =>
        editChunk(d, 1, (c) => ({
          ...c,
          stable_slots: [
            {
              range_list: [
                [8192, 12287],
                [0, 0],
              ],
              tag: 'None',
            },
            c.stable_slots[1],
          ],
        })),
      problem: /owned twice/,
    },
    {
      name: 'a slot without owner',
      edit: (d) => editChunk(d, 1, (c) => ({ ...c, stable_slots: [c.stable_slots[0], null] })),
      problem: /no owner/,
    },
    {
      name: 'a range past the last slot',
      edit: (d) =>
        editChunk(d, 1, (c) => ({
          ...c,
          stable_slots: [c.stable_slots[0], { range_list: [[12288, 16384]], tag: 'None' }],
        })),
      problem: /invalid range/,
    },
    {
      name: 'a reversed range',
      edit: (d) =>
        editChunk(d, 1, (c) => ({
          ...c,
          stable_slots: [c.stable_slots[0], { range_list: [[16383, 12288]], tag: 'None' }],
        })),
      problem: /invalid range/,
    },
    {
      name: 'a migration naming a missing chunk',
      edit: (d) =>
        editChunk(d, 0, (c) => ({
          ...c,
          stable_slots: [{ range_list: [[0, 4000]], tag: 'None' }, c.stable_slots[1]],
          migrating_slots: [
            [{ range_list: [[4001, 4095]], is_migrating: true, meta: { ...meta, dst_chunk_index: 7 } }],
            [],
          ],
        })),
      problem: /missing chunk part/,
    },
    {
      name: 'a migration without its importing side',
      edit: (d) =>
        editChunk(d, 0, (c) => ({
          ...c,
          stable_slots: [{ range_list: [[0, 4000]], tag: 'None' }, c.stable_slots[1]],
          migrating_slots: [[{ range_list: [[4001, 4095]], is_migrating: true, meta }], []],
        })),
      problem: /without its importing side/,
    },
    {
      name: 'a migration stored away from its source',
      edit: (d) =>
        editChunk(
          editChunk(d, 1, (c) => ({
            ...c,
            migrating_slots: [[{ range_list: [[4001, 4095]], is_migrating: false, meta }], []],
          })),
          0,
          (c) => ({
            ...c,
            stable_slots: [{ range_list: [[0, 4000]], tag: 'None' }, c.stable_slots[1]],
            migrating_slots: [[], [{ range_list: [[4001, 4095]], is_migrating: true, meta }]],
          }),
        ),
      problem: /belongs elsewhere/,
    },
  ];
  for (const c of inconsistent) {
    test(`INVALID_REQUEST: ${c.name}`, () => {
      const store = busyStore();
      const before = snapshot(store);
      const outcome = applyCommand(store, { kind: 'restore', document: c.edit(base()) }, CTX);
      assert.equal(outcome.ok ? 'ok' : outcome.error.code, 'INVALID_REQUEST');
      assert.match(outcome.ok ? '' : (outcome.error.message ?? ''), c.problem);
      assert.equal(snapshot(store), before);
    });
  }

  test('the unedited base document is valid, so each case above fails for its own edit', () => {
    must(storeWithProxies(1, 1), { kind: 'restore', document: base() });
  });

  test('a valid migration in a hand-built document restores and commits', () => {
    const doc = editChunk(
      editChunk(base(), 1, (c) => ({
        ...c,
        migrating_slots: [[{ range_list: [[4001, 4095]], is_migrating: false, meta }], []],
      })),
      0,
      (c) => ({
        ...c,
        stable_slots: [{ range_list: [[0, 4000]], tag: 'None' }, c.stable_slots[1]],
        migrating_slots: [[{ range_list: [[4001, 4095]], is_migrating: true, meta }], []],
      }),
    );
    const store = emptyStore();
    must(store, { kind: 'restore', document: doc });
    assertConsistent(store);
    assert.equal(commitAllShown(store, 'c'), 1);
    assert.deepEqual(store.clusters.get('c')!.chunks[1]!.stable_slots[0]!.range_list, [
      [4001, 4095],
      [8192, 12287],
    ]);
  });
});
