import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CommandContext } from '../../src/domain/commands.js';
import { DEFAULT_CLUSTER_CONFIG } from '../../src/domain/commands/clusters.js';
import { listClusterNames, listProxyAddresses } from '../../src/domain/query.js';
import { emptyStore, storeFromDocument } from '../../src/domain/store.js';
import type { MetaDocument, MutableStore, NodeView, RolePosition, SlotRange } from '../../src/domain/types.js';
import { getClusterView, getProxyView } from '../../src/domain/views.js';
import { CTX, must, storeWithProxies } from '../fixtures/stores.js';
import { commitAllShown, shownMigrations, viewOf } from '../helpers/coordinator.js';
import { buildDocument } from '../helpers/documents.js';
import { assertConsistent, migrationMeta, snapshot } from '../helpers/invariants.js';

const stable = (start: number, end: number): SlotRange => ({ range_list: [[start, end]], tag: 'None' });

/** Cluster `c`: chunk 0 = a:1 + b:1 (role under test), chunk 1 = c:1 + d:1 (Normal). */
function twoChunks(role: RolePosition): MutableStore {
  const doc = buildDocument({
    proxies: ['a:1', 'b:1', 'c:1', 'd:1', 'e:1'],
    clusters: {
      c: [
        ['a:1', 'b:1'],
        ['c:1', 'd:1'],
      ],
    },
  });
  const cluster = doc.clusters.c!;
  doc.clusters.c = {
    ...cluster,
    chunks: cluster.chunks.map((chunk, i) => (i === 0 ? { ...chunk, role_position: role } : chunk)),
  };
  const store = emptyStore();
  must(store, { kind: 'restore', document: doc });
  return store;
}

function node(
  address: string,
  proxy: string,
  role: 'master' | 'replica',
  slots: SlotRange[],
  peer: string,
  peerProxy: string,
): NodeView {
  return {
    address,
    proxy_address: proxy,
    cluster_name: 'c',
    slots,
    repl: { role, peers: [{ node_address: peer, proxy_address: peerProxy }] },
  };
}

describe('cluster view by role position', () => {
  // masters: nodes that are master; parts: the node serving part 0 and part 1.
  const cases: { role: RolePosition; masters: number[]; parts: [number, number] }[] = [
    { role: 'Normal', masters: [0, 2], parts: [0, 2] },
    { role: 'FirstChunkMaster', masters: [0, 1], parts: [0, 1] },
    { role: 'SecondChunkMaster', masters: [2, 3], parts: [3, 2] },
  ];
  for (const c of cases) {
    test(`${c.role}: masters on nodes ${c.masters}, part 0 on node ${c.parts[0]}, part 1 on node ${c.parts[1]}`, () => {
      const store = twoChunks(c.role);
      const view = getClusterView(store, 'c', 0)!;
      const addresses = ['a:1-n0', 'a:1-n1', 'b:1-n0', 'b:1-n1'];
      const proxies = ['a:1', 'a:1', 'b:1', 'b:1'];
      const partSlots = [stable(0, 4095), stable(4096, 8191)];
      const expected = addresses.map((address, i) => {
        const slots = c.parts.flatMap((n, part) => (n === i ? [partSlots[part]!] : []));
        // Replication pairs are 0<->3 and 1<->2 whatever the role.
        const peer = 3 - i;
        return node(
          address,
          proxies[i]!,
          c.masters.includes(i) ? 'master' : 'replica',
          slots,
          addresses[peer]!,
          proxies[peer]!,
        );
      });
      assert.deepEqual(view.nodes.slice(0, 4), expected);
      assert.deepEqual(view.nodes.slice(4), [
        node('c:1-n0', 'c:1', 'master', [stable(8192, 12287)], 'd:1-n1', 'd:1'),
        node('c:1-n1', 'c:1', 'replica', [], 'd:1-n0', 'd:1'),
        node('d:1-n0', 'd:1', 'master', [stable(12288, 16383)], 'c:1-n1', 'c:1'),
        node('d:1-n1', 'd:1', 'replica', [], 'c:1-n0', 'c:1'),
      ]);
      assert.equal(view.name, 'c');
      assert.equal(view.epoch, store.clusters.get('c')!.epoch);
      assert.deepEqual(view.config, DEFAULT_CLUSTER_CONFIG);
      assertConsistent(store);
    });
  }

  test('unknown cluster has no view', () => {
    assert.equal(getClusterView(twoChunks('Normal'), 'zz', 0), null);
  });
});

describe('proxy view', () => {
  const cases: {
    name: string;
    role: RolePosition;
    proxy: string;
    nodes: string[];
    peers: { proxy_address: string; slots: SlotRange[] }[];
  }[] = [
    {
      name: 'Normal: every other proxy holding a master, in node order',
      role: 'Normal',
      proxy: 'a:1',
      nodes: ['a:1-n0', 'a:1-n1'],
      peers: [
        { proxy_address: 'b:1', slots: [stable(4096, 8191)] },
        { proxy_address: 'c:1', slots: [stable(8192, 12287)] },
        { proxy_address: 'd:1', slots: [stable(12288, 16383)] },
      ],
    },
    {
      name: 'a proxy with two masters is one peer with both parts',
      role: 'FirstChunkMaster',
      proxy: 'c:1',
      nodes: ['c:1-n0', 'c:1-n1'],
      peers: [
        { proxy_address: 'a:1', slots: [stable(0, 4095), stable(4096, 8191)] },
        { proxy_address: 'd:1', slots: [stable(12288, 16383)] },
      ],
    },
    {
      name: 'SecondChunkMaster lists node 2 (part 1) before node 3 (part 0)',
      role: 'SecondChunkMaster',
      proxy: 'd:1',
      nodes: ['d:1-n0', 'd:1-n1'],
      peers: [
        { proxy_address: 'b:1', slots: [stable(4096, 8191), stable(0, 4095)] },
        { proxy_address: 'c:1', slots: [stable(8192, 12287)] },
      ],
    },
    {
      name: 'the proxy without masters still gets every master as a peer',
      role: 'SecondChunkMaster',
      proxy: 'a:1',
      nodes: ['a:1-n0', 'a:1-n1'],
      peers: [
        { proxy_address: 'b:1', slots: [stable(4096, 8191), stable(0, 4095)] },
        { proxy_address: 'c:1', slots: [stable(8192, 12287)] },
        { proxy_address: 'd:1', slots: [stable(12288, 16383)] },
      ],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const store = twoChunks(c.role);
      const cluster = getClusterView(store, 'c', 0)!;
      const view = getProxyView(store, c.proxy, 0)!;
      assert.deepEqual(view, {
        address: c.proxy,
        epoch: cluster.epoch,
        nodes: cluster.nodes.filter((n) => n.proxy_address === c.proxy),
        free_nodes: [],
        peers: c.peers.map((p) => ({ ...p, cluster_name: 'c' })),
        clusters_config: { c: DEFAULT_CLUSTER_CONFIG },
      });
      assert.deepEqual(
        view.nodes.map((n) => n.address),
        c.nodes,
      );
    });
  }

  test('a free proxy: global epoch, its nodes free, no peers or config', () => {
    const store = twoChunks('Normal');
    assert.deepEqual(getProxyView(store, 'e:1', 0), {
      address: 'e:1',
      epoch: store.globalEpoch,
      nodes: [],
      free_nodes: ['e:1-n0', 'e:1-n1'],
      peers: [],
      clusters_config: {},
    });
  });

  test('a proxy in a cluster follows the cluster epoch, not the global one', () => {
    const store = storeWithProxies(4, 2);
    must(store, { kind: 'addCluster', name: 'a', nodeNumber: 4 });
    must(store, { kind: 'addCluster', name: 'b', nodeNumber: 4 });
    const inA = store.clusters.get('a')!.chunks[0]!.proxy_addresses[0];
    const epochA = store.clusters.get('a')!.epoch;
    must(store, { kind: 'changeConfig', name: 'b', config: {} });
    assert.ok(store.globalEpoch > epochA);
    assert.equal(getProxyView(store, inA, 0)?.epoch, epochA);
  });

  test('peers carry the migrating and importing ranges of masters', () => {
    const store = storeWithProxies(4, 3);
    must(store, { kind: 'addCluster', name: 'c', nodeNumber: 4 });
    must(store, { kind: 'addNodes', name: 'c', nodeNumber: 4 });
    must(store, { kind: 'expand', name: 'c' });
    const cluster = viewOf(store, 'c', 0);
    const newProxy = cluster.nodes[4]!.proxy_address;
    const oldMaster = cluster.nodes[0]!;
    const peer = getProxyView(store, newProxy, 0)!.peers.find((p) => p.proxy_address === oldMaster.proxy_address)!;
    assert.deepEqual(peer.slots, oldMaster.slots);
    assert.equal(peer.slots.length, 2, 'stable plus migrating');
  });
});

describe('migration tags in views', () => {
  test('the source shows Migrating and the destination Importing, with node and proxy addresses', () => {
    const store = storeWithProxies(4, 3);
    must(store, { kind: 'addCluster', name: 'c', nodeNumber: 4 });
    must(store, { kind: 'addNodes', name: 'c', nodeNumber: 4 });
    must(store, { kind: 'expand', name: 'c' });
    const epoch = store.globalEpoch;
    const [c0, c1] = store.clusters.get('c')!.chunks;
    const nodes = viewOf(store, 'c', 0).nodes;
    const meta = {
      epoch,
      src_proxy_address: c0!.proxy_addresses[0],
      src_node_address: c0!.node_addresses[0],
      dst_proxy_address: c1!.proxy_addresses[0],
      dst_node_address: c1!.node_addresses[0],
    };
    assert.deepEqual(nodes[0]!.slots, [stable(0, 4095), { range_list: [[4096, 8191]], tag: { Migrating: meta } }]);
    assert.deepEqual(nodes[4]!.slots, [{ range_list: [[4096, 8191]], tag: { Importing: meta } }]);
    assert.equal(nodes[4]!.repl.role, 'master');
  });
});

describe('migration limit', () => {
  /** 1 chunk expanding onto 2 new chunks: 5 moves, 2 from part 0.0 and 3 from part 0.1. */
  function expanding(): MutableStore {
    const store = storeWithProxies(4, 3);
    must(store, { kind: 'addCluster', name: 'c', nodeNumber: 4 });
    must(store, { kind: 'addNodes', name: 'c', nodeNumber: 8 });
    must(store, { kind: 'expand', name: 'c' });
    return store;
  }

  const ranges = (view: ReturnType<typeof viewOf>) =>
    view.nodes.map((n) =>
      n.slots
        .map((s) => `${s.tag === 'None' ? 'S' : 'Migrating' in s.tag ? 'M' : 'I'}${JSON.stringify(s.range_list)}`)
        .join(' '),
    );

  const cases: { name: string; limit: number; expected: string[] }[] = [
    {
      name: '0 shows every migration',
      limit: 0,
      expected: [
        'S[[0,2730]] M[[5461,8191]] M[[2731,5460]]',
        '',
        'S[[8192,10922]] M[[16383,16383]] M[[13653,16382]] M[[10923,13652]]',
        '',
        'I[[5461,8191]]',
        '',
        'I[[2731,5460]] I[[16383,16383]]',
        '',
        'I[[13653,16382]]',
        '',
        'I[[10923,13652]]',
        '',
      ],
    },
    {
      name: '1 shows the first migration; the rest are stable slots of their source',
      limit: 1,
      expected: ['S[[0,5460]] M[[5461,8191]]', '', 'S[[8192,16383]]', '', 'I[[5461,8191]]', '', '', '', '', '', '', ''],
    },
    {
      name: '2 shows at most one migration out of each source part',
      limit: 2,
      expected: [
        'S[[0,5460]] M[[5461,8191]]',
        '',
        'S[[8192,16382]] M[[16383,16383]]',
        '',
        'I[[5461,8191]]',
        '',
        'I[[16383,16383]]',
        '',
        '',
        '',
        '',
        '',
      ],
    },
    {
      name: 'a limit above the source parts still shows one per source part',
      limit: 100,
      expected: [
        'S[[0,5460]] M[[5461,8191]]',
        '',
        'S[[8192,16382]] M[[16383,16383]]',
        '',
        'I[[5461,8191]]',
        '',
        'I[[16383,16383]]',
        '',
        '',
        '',
        '',
        '',
      ],
    },
  ];
  for (const c of cases) {
    test(`limit ${c.name}`, () => {
      const store = expanding();
      const before = snapshot(store);
      assert.deepEqual(ranges(viewOf(store, 'c', c.limit)), c.expected);
      assert.equal(snapshot(store), before, 'the stored document keeps every migration');
    });
  }

  test('committing what is shown reveals the withheld migrations, one round after another', () => {
    const store = expanding();
    const ctx: CommandContext = { ...CTX, migrationLimit: 1 };
    const rounds: number[] = [];
    let shown: SlotRange[];
    while ((shown = shownMigrations(store, 'c', 1)).length > 0) {
      rounds.push(shown.length);
      must(store, { kind: 'commitMigration', cluster_name: 'c', slot_range: shown[0]! }, ctx);
      assertConsistent(store);
    }
    assert.deepEqual(rounds, [1, 1, 1, 1, 1]);
    assert.deepEqual(
      ranges(viewOf(store, 'c', 0)).filter((r) => r !== ''),
      [
        'S[[0,2730]]',
        'S[[8192,10922]]',
        'S[[5461,8191]]',
        'S[[2731,5460],[16383,16383]]',
        'S[[13653,16382]]',
        'S[[10923,13652]]',
      ],
    );
  });

  test('a shrinking source without stable slots shows withheld moves as its stable slots', () => {
    const store = storeWithProxies(4, 3);
    must(store, { kind: 'addCluster', name: 'c', nodeNumber: 12 });
    must(store, { kind: 'shrink', name: 'c', nodeNumber: 4 });
    assert.deepEqual(ranges(viewOf(store, 'c', 1)), [
      'S[[0,2730]] I[[5462,8192]]',
      '',
      'S[[2731,5461]]',
      '',
      'M[[5462,8192]]',
      '',
      'S[[8193,10923]]',
      '',
      'S[[10924,13653]]',
      '',
      'S[[13654,16383]]',
      '',
    ]);
    commitAllShown(store, 'c', { ...CTX, migrationLimit: 1 }, () => assertConsistent(store));
  });

  test('the migrating meta shown under a limit is the stored one, so it commits', () => {
    const store = expanding();
    const shown = shownMigrations(store, 'c', 2);
    assert.equal(shown.length, 2);
    for (const s of shown) assert.equal(migrationMeta(s.tag)!.epoch, store.clusters.get('c')!.epoch);
    commitAllShown(store, 'c', { ...CTX, migrationLimit: 2 });
  });
});

describe('listings', () => {
  function named(): MutableStore {
    const doc: MetaDocument = buildDocument({
      proxies: ['b:1', 'a:2', 'a:10', 'B:1', 'h1:1', 'h2:1', 'h1:2', 'h2:2', 'h1:3', 'h2:3'],
      clusters: { zeta: [['h1:1', 'h2:1']], alpha: [['h1:2', 'h2:2']], Beta: [['h1:3', 'h2:3']] },
    });
    return storeFromDocument(doc);
  }

  const cases: { name: string; offset?: number; limit?: number; clusters: string[]; proxies: string[] }[] = [
    {
      name: 'everything in ascending byte order',
      clusters: ['Beta', 'alpha', 'zeta'],
      proxies: ['B:1', 'a:10', 'a:2', 'b:1', 'h1:1', 'h1:2', 'h1:3', 'h2:1', 'h2:2', 'h2:3'],
    },
    {
      name: 'offset skips',
      offset: 1,
      clusters: ['alpha', 'zeta'],
      proxies: ['a:10', 'a:2', 'b:1', 'h1:1', 'h1:2', 'h1:3', 'h2:1', 'h2:2', 'h2:3'],
    },
    { name: 'limit cuts', limit: 2, clusters: ['Beta', 'alpha'], proxies: ['B:1', 'a:10'] },
    { name: 'offset and limit page', offset: 2, limit: 2, clusters: ['zeta'], proxies: ['a:2', 'b:1'] },
    { name: 'offset past the end', offset: 50, clusters: [], proxies: [] },
    { name: 'limit 0', limit: 0, clusters: [], proxies: [] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const store = named();
      assert.deepEqual(listClusterNames(store, { offset: c.offset, limit: c.limit }), c.clusters);
      assert.deepEqual(listProxyAddresses(store, { offset: c.offset, limit: c.limit }), c.proxies);
    });
  }

  test('listings follow additions and removals', () => {
    const store = named();
    must(store, { kind: 'removeCluster', name: 'alpha' });
    must(store, { kind: 'addCluster', name: 'Alpha', nodeNumber: 4 });
    must(store, { kind: 'addProxy', proxy_address: 'A:1', nodes: ['x', 'y'], host: null });
    must(store, { kind: 'removeProxy', address: 'b:1' });
    assert.deepEqual(listClusterNames(store), ['Alpha', 'Beta', 'zeta']);
    assert.deepEqual(listProxyAddresses(store).slice(0, 4), ['A:1', 'B:1', 'a:10', 'a:2']);
  });
});
