import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AddCluster } from '../../src/domain/commands.js';
import { DEFAULT_CLUSTER_CONFIG } from '../../src/domain/commands/clusters.js';
import type { ErrorCode } from '../../src/domain/errors.js';
import { emptyStore } from '../../src/domain/store.js';
import type { MutableStore } from '../../src/domain/types.js';
import { getProxyView } from '../../src/domain/views.js';
import { must, proxyAddress, storeWithProxies } from '../fixtures/stores.js';
import { masterSlotCounts, masters, viewOf } from '../helpers/coordinator.js';
import { failsUnchanged, failsWithChanges, succeeds } from '../helpers/expect.js';
import { assertConsistent } from '../helpers/invariants.js';

function addCluster(name: string, nodeNumber: number): AddCluster {
  return { kind: 'addCluster', name, nodeNumber };
}

function freeProxyCount(store: MutableStore): number {
  return [...store.proxies.values()].filter((p) => p.cluster === null).length;
}

describe('add cluster', () => {
  const layouts: { name: string; nodes: number; ranges: [number, number][] }[] = [
    {
      name: '4 nodes: two halves',
      nodes: 4,
      ranges: [
        [0, 8191],
        [8192, 16383],
      ],
    },
    {
      name: '8 nodes: four quarters',
      nodes: 8,
      ranges: [
        [0, 4095],
        [4096, 8191],
        [8192, 12287],
        [12288, 16383],
      ],
    },
    {
      name: '12 nodes: the first 16384 % 6 = 4 masters get one slot more',
      nodes: 12,
      ranges: [
        [0, 2730],
        [2731, 5461],
        [5462, 8192],
        [8193, 10923],
        [10924, 13653],
        [13654, 16383],
      ],
    },
  ];
  for (const c of layouts) {
    test(`succeeds with consecutive balanced slots: ${c.name}`, () => {
      const store = storeWithProxies(4, 3);
      succeeds(store, addCluster('mydb', c.nodes));
      const view = viewOf(store, 'mydb', 0);
      assert.equal(view.nodes.length, c.nodes);
      assert.equal(view.epoch, store.globalEpoch);
      assert.deepEqual(view.config, DEFAULT_CLUSTER_CONFIG);
      assert.deepEqual(
        masters(view).map((n) => n.slots),
        c.ranges.map((r) => [{ range_list: [r], tag: 'None' }]),
      );
      assert.equal(freeProxyCount(store), 12 - c.nodes / 2);
      assertConsistent(store);
    });
  }

  test('proxies of the new cluster serve its nodes and have no free nodes', () => {
    const store = storeWithProxies(4, 3);
    must(store, addCluster('a', 4));
    must(store, addCluster('b', 4));
    const view = viewOf(store, 'a', 0);
    const proxyAddresses = new Set(view.nodes.map((n) => n.proxy_address));
    assert.equal(proxyAddresses.size, 2);
    assert.equal(new Set(view.nodes.map((n) => n.address)).size, 4);
    for (const address of proxyAddresses) {
      const proxy = getProxyView(store, address, 0)!;
      assert.equal(proxy.nodes.length, 2);
      assert.deepEqual(proxy.free_nodes, []);
      assert.equal(proxy.epoch, view.epoch);
      // Each proxy serves its own two nodes, 2i and 2i+1 of 60xx for proxy 70i.
      const port = Number(address.split(':')[1]) - 7000;
      assert.deepEqual(
        proxy.nodes.map((n) => Number(n.address.split(':')[1])),
        [6000 + 2 * port, 6001 + 2 * port],
      );
    }
    assertConsistent(store);
  });

  const validNames = ['a', 'A-b_c@9', 'x'.repeat(30), '0123456789', '@', '-', '_'];
  for (const name of validNames) {
    test(`accepts the name ${JSON.stringify(name)}`, () => {
      const store = storeWithProxies(2, 1);
      succeeds(store, addCluster(name, 4));
      assert.ok(store.clusters.has(name));
    });
  }

  // Each case is built so that every later check would fail too, which
  // pins the order in which the reference checks (docs/differences.md, item 1 aside).
  const failures: { name: string; setup?: (s: MutableStore) => void; cmd: AddCluster; code: ErrorCode }[] = [
    { name: 'empty name before everything', cmd: addCluster('', 3), code: 'INVALID_CLUSTER_NAME' },
    { name: '31 characters', cmd: addCluster('x'.repeat(31), 3), code: 'INVALID_CLUSTER_NAME' },
    { name: 'space in the name', cmd: addCluster('my db', 4), code: 'INVALID_CLUSTER_NAME' },
    { name: 'slash in the name', cmd: addCluster('a/b', 4), code: 'INVALID_CLUSTER_NAME' },
    { name: 'dot in the name', cmd: addCluster('a.b', 4), code: 'INVALID_CLUSTER_NAME' },
    { name: 'non-ASCII letter', cmd: addCluster('café', 4), code: 'INVALID_CLUSTER_NAME' },
    {
      name: 'invalid name wins over an invalid node number',
      cmd: addCluster('bad name', 0),
      code: 'INVALID_CLUSTER_NAME',
    },
    {
      name: 'ALREADY_EXISTED before the node number and resources',
      setup: (s) => must(s, addCluster('taken', 4)),
      cmd: addCluster('taken', 3),
      code: 'ALREADY_EXISTED',
    },
    { name: 'zero nodes', cmd: addCluster('c', 0), code: 'INVALID_NODE_NUMBER' },
    { name: 'not a multiple of 4', cmd: addCluster('c', 6), code: 'INVALID_NODE_NUMBER' },
    { name: 'odd node number', cmd: addCluster('c', 3), code: 'INVALID_NODE_NUMBER' },
    { name: 'negative', cmd: addCluster('c', -4), code: 'INVALID_NODE_NUMBER' },
    { name: 'fractional', cmd: addCluster('c', 4.5), code: 'INVALID_NODE_NUMBER' },
    {
      name: 'invalid node number wins over missing resources',
      cmd: addCluster('c', 1002),
      code: 'INVALID_NODE_NUMBER',
    },
    { name: 'more nodes than free proxies hold', cmd: addCluster('c', 8), code: 'NO_AVAILABLE_RESOURCE' },
    {
      name: 'free proxies exist but sit on one host',
      setup: (s) => {
        must(s, {
          kind: 'addProxy',
          proxy_address: '127.0.0.1:7002',
          nodes: ['127.0.0.1:6004', '127.0.0.1:6005'],
          host: null,
        });
        must(s, { kind: 'removeProxy', address: proxyAddress(2, 1) });
      },
      cmd: addCluster('c', 4),
      code: 'NO_AVAILABLE_RESOURCE',
    },
    {
      name: 'failed proxies are not free',
      setup: (s) => must(s, { kind: 'failover', address: proxyAddress(1, 1) }),
      cmd: addCluster('c', 4),
      code: 'NO_AVAILABLE_RESOURCE',
    },
  ];
  for (const c of failures) {
    test(`${c.code}: ${c.name}`, () => {
      const store = storeWithProxies(2, 1);
      c.setup?.(store);
      failsUnchanged(store, c.cmd, c.code);
      assertConsistent(store);
    });
  }

  test('NO_AVAILABLE_RESOURCE when trimming the crowded host leaves too few proxies', () => {
    // 3 free proxies on one host and 1 on another: only 1 + 1 can pair up.
    const store = emptyStore();
    for (const address of ['h1:1', 'h1:2', 'h1:3', 'h2:1']) {
      must(store, { kind: 'addProxy', proxy_address: address, nodes: [`${address}a`, `${address}b`], host: null });
    }
    failsUnchanged(store, addCluster('c', 8), 'NO_AVAILABLE_RESOURCE');
    succeeds(store, addCluster('c', 4));
    assertConsistent(store);
  });

  test('an empty store has no resources', () => {
    failsUnchanged(emptyStore(), addCluster('c', 4), 'NO_AVAILABLE_RESOURCE');
  });

  test('masters are balanced on the largest fleet shape of the reference tests', () => {
    const store = storeWithProxies(6, 6);
    succeeds(store, addCluster('c', 72));
    const counts = masterSlotCounts(store, 'c');
    assert.equal(counts.length, 36);
    assert.ok(Math.max(...counts) - Math.min(...counts) <= 1);
    assert.equal(freeProxyCount(store), 0);
    assertConsistent(store);
  });
});

describe('remove cluster', () => {
  test('frees its proxies and bumps the epoch; other clusters stay', () => {
    const store = storeWithProxies(4, 3);
    must(store, addCluster('a', 4));
    must(store, addCluster('b', 8));
    const other = store.clusters.get('a');
    succeeds(store, { kind: 'removeCluster', name: 'b' });
    assert.equal(store.clusters.has('b'), false);
    assert.equal(store.clusters.get('a'), other, 'the other cluster record is untouched');
    assert.equal(freeProxyCount(store), 10);
    assertConsistent(store);
    succeeds(store, { kind: 'removeCluster', name: 'a' });
    assert.equal(freeProxyCount(store), 12);
    assertConsistent(store);
  });

  test('a removed name can be created again', () => {
    const store = storeWithProxies(2, 1);
    must(store, addCluster('a', 4));
    must(store, { kind: 'removeCluster', name: 'a' });
    succeeds(store, addCluster('a', 4));
  });

  test('a failed proxy left in a chunk is freed with the cluster but stays failed', () => {
    const store = storeWithProxies(2, 1);
    must(store, addCluster('a', 4));
    // No free proxy is left: the takeover stands and the proxy stays in its chunk.
    failsWithChanges(store, { kind: 'failover', address: proxyAddress(1, 1) }, 'NO_AVAILABLE_RESOURCE');
    succeeds(store, { kind: 'removeCluster', name: 'a' });
    assert.equal(store.proxies.get(proxyAddress(1, 1))?.cluster, null);
    assert.ok(store.failedProxies.has(proxyAddress(1, 1)));
    assertConsistent(store);
  });

  const failures: { name: string; cluster: string; code: ErrorCode }[] = [
    { name: 'invalid name', cluster: 'no such', code: 'INVALID_CLUSTER_NAME' },
    { name: 'empty name', cluster: '', code: 'INVALID_CLUSTER_NAME' },
    { name: 'unknown cluster', cluster: 'nosuch', code: 'CLUSTER_NOT_FOUND' },
    { name: 'name differing in case only', cluster: 'A', code: 'CLUSTER_NOT_FOUND' },
  ];
  for (const c of failures) {
    test(`${c.code}: ${c.name}`, () => {
      const store = storeWithProxies(2, 1);
      must(store, addCluster('a', 4));
      failsUnchanged(store, { kind: 'removeCluster', name: c.cluster }, c.code);
    });
  }
});

describe('balance masters', () => {
  function roles(store: MutableStore): string[] {
    return store.clusters.get('c')!.chunks.map((ch) => ch.role_position);
  }

  test('resets replaced chunks to Normal but not chunks holding a failed proxy (reference test_balance_masters)', () => {
    const store = storeWithProxies(3, 1);
    must(store, addCluster('c', 4));
    succeeds(store, { kind: 'failover', address: viewOf(store, 'c', 1).nodes[0]!.proxy_address });
    assert.deepEqual(roles(store), ['SecondChunkMaster']);
    const epoch = store.clusters.get('c')!.epoch;
    succeeds(store, { kind: 'balanceMasters', name: 'c' });
    assert.deepEqual(roles(store), ['Normal']);
    assert.ok(store.clusters.get('c')!.epoch > epoch);
    assertConsistent(store);

    // No free proxy is left: the takeover stands, and balancing keeps it.
    failsWithChanges(
      store,
      { kind: 'failover', address: viewOf(store, 'c', 1).nodes[0]!.proxy_address },
      'NO_AVAILABLE_RESOURCE',
    );
    assert.deepEqual(roles(store), ['SecondChunkMaster']);
    succeeds(store, { kind: 'balanceMasters', name: 'c' });
    assert.deepEqual(roles(store), ['SecondChunkMaster']);
    assertConsistent(store);
  });

  test('a chunk with a reported proxy keeps its role; the others go back to Normal', () => {
    const store = storeWithProxies(4, 3);
    must(store, addCluster('c', 12));
    for (const chunk of [0, 1, 2]) {
      must(store, {
        kind: 'failover',
        address: store.clusters.get('c')!.chunks[chunk]!.proxy_addresses[chunk === 1 ? 1 : 0],
      });
    }
    assert.deepEqual(roles(store), ['SecondChunkMaster', 'FirstChunkMaster', 'SecondChunkMaster']);
    must(store, { kind: 'addFailure', address: store.clusters.get('c')!.chunks[2]!.proxy_addresses[1], reporter: 'r' });
    succeeds(store, { kind: 'balanceMasters', name: 'c' });
    assert.deepEqual(roles(store), ['Normal', 'Normal', 'SecondChunkMaster']);
    assertConsistent(store);
  });

  test('balancing a balanced cluster still touches it', () => {
    const store = storeWithProxies(2, 1);
    must(store, addCluster('c', 4));
    const chunks = store.clusters.get('c')!.chunks;
    succeeds(store, { kind: 'balanceMasters', name: 'c' });
    assert.deepEqual(store.clusters.get('c')!.chunks, chunks);
    assert.equal(store.clusters.get('c')!.epoch, store.globalEpoch);
  });

  const failures: { name: string; cluster: string; code: ErrorCode }[] = [
    { name: 'invalid name', cluster: 'c!', code: 'INVALID_CLUSTER_NAME' },
    { name: 'unknown cluster', cluster: 'd', code: 'CLUSTER_NOT_FOUND' },
  ];
  for (const c of failures) {
    test(`${c.code}: ${c.name}`, () => {
      const store = storeWithProxies(3, 1);
      must(store, addCluster('c', 4));
      must(store, { kind: 'failover', address: store.clusters.get('c')!.chunks[0]!.proxy_addresses[0] });
      failsUnchanged(store, { kind: 'balanceMasters', name: c.cluster }, c.code);
    });
  }
});
