import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyCommand } from '../../src/domain/commands.js';
import type { CommandContext } from '../../src/domain/commands.js';
import { emptyStore } from '../../src/domain/store.js';
import type { ChunkStore, MutableStore, ProxyView, SlotRange } from '../../src/domain/types.js';
import { getProxyView } from '../../src/domain/views.js';
import { CTX, must, proxyAddress, storeWithProxies } from '../fixtures/stores.js';
import { commitAllShown, shownMigrations, viewOf } from '../helpers/coordinator.js';
import { buildDocument } from '../helpers/documents.js';
import type { DocumentSpec } from '../helpers/documents.js';
import { failsUnchanged, failsWithChanges, succeeds } from '../helpers/expect.js';
import { assertConsistent, documentOf, migrationMeta } from '../helpers/invariants.js';

function chunkOf(store: MutableStore, name: string, index = 0): ChunkStore {
  const chunk = store.clusters.get(name)?.chunks[index];
  assert.ok(chunk);
  return chunk;
}

function restored(spec: DocumentSpec): MutableStore {
  const store = emptyStore();
  must(store, { kind: 'restore', document: buildDocument(spec) });
  return store;
}

function slotsOf(store: MutableStore, name: string, limit = 0): SlotRange[][] {
  return viewOf(store, name, limit).nodes.map((n) => [...n.slots]);
}

describe('failover of a free proxy', () => {
  test('marks it failed, drops its reports, answers null and bumps the epoch', () => {
    const store = storeWithProxies(2, 2);
    const address = proxyAddress(1, 2);
    must(store, { kind: 'addFailure', address, reporter: 'c1' });
    const value = succeeds(store, { kind: 'failover', address });
    assert.equal(value, null);
    assert.ok(store.failedProxies.has(address));
    assert.equal(store.failures.has(address), false);
    assert.equal(store.proxies.get(address)?.cluster, null);
    // Coordinators retry: failing it again still succeeds.
    succeeds(store, { kind: 'failover', address });
    assertConsistent(store);
  });

  const notFound: { name: string; address: string }[] = [
    { name: 'unknown address', address: '10.1.1.1:7000' },
    { name: 'malformed address', address: 'nonsense' },
    { name: 'an address known only from failure reports', address: '10.2.2.2:7000' },
  ];
  for (const c of notFound) {
    test(`PROXY_NOT_FOUND: ${c.name}`, () => {
      const store = storeWithProxies(2, 1);
      must(store, { kind: 'addFailure', address: '10.2.2.2:7000', reporter: 'c1' });
      failsUnchanged(store, { kind: 'failover', address: c.address }, 'PROXY_NOT_FOUND');
    });
  }
});

describe('failover of a proxy in a cluster', () => {
  const sides: {
    name: string;
    side: 0 | 1;
    role: ChunkStore['role_position'];
    masterNodes: [number, number];
    parts: [number, number];
  }[] = [
    // Part 0 moves to node 3 and part 1 stays on node 2 (upstream 11431e2).
    {
      name: 'first proxy: the second takes over',
      side: 0,
      role: 'SecondChunkMaster',
      masterNodes: [2, 3],
      parts: [3, 2],
    },
    {
      name: 'second proxy: the first takes over',
      side: 1,
      role: 'FirstChunkMaster',
      masterNodes: [0, 1],
      parts: [0, 1],
    },
  ];
  for (const c of sides) {
    test(`replaces the ${c.name}`, () => {
      const store = storeWithProxies(4, 3);
      must(store, { kind: 'addCluster', name: 'c', nodeNumber: 4 });
      const before = chunkOf(store, 'c');
      const failed = before.proxy_addresses[c.side];
      const surviving = before.proxy_addresses[1 - c.side]!;
      const partSlots = before.stable_slots;
      must(store, { kind: 'addFailure', address: failed, reporter: 'coord' });
      const epoch = store.globalEpoch;

      const value = succeeds(store, { kind: 'failover', address: failed }) as ProxyView;
      const after = chunkOf(store, 'c');
      const replacement = after.proxy_addresses[c.side];
      const replacementRecord = store.proxies.get(replacement)!;
      assert.equal(after.role_position, c.role);
      assert.notEqual(replacement, failed);
      assert.equal(after.proxy_addresses[1 - c.side], surviving, 'the surviving half stays in place');
      assert.equal(after.hosts[c.side], replacementRecord.host);
      assert.notEqual(replacementRecord.host, before.hosts[0]);
      assert.notEqual(replacementRecord.host, before.hosts[1]);
      assert.deepEqual(after.node_addresses.slice(c.side * 2, c.side * 2 + 2), replacementRecord.node_addresses);
      assert.deepEqual(
        after.node_addresses.slice(2 - c.side * 2, 4 - c.side * 2),
        before.node_addresses.slice(2 - c.side * 2, 4 - c.side * 2),
      );
      assert.deepEqual(after.stable_slots, partSlots, 'no slot moves between parts');

      // Takeover and replacement each take an epoch; the cluster ends on the second.
      assert.equal(store.globalEpoch, epoch + 2);
      assert.equal(store.clusters.get('c')!.epoch, store.globalEpoch);

      assert.equal(store.proxies.get(failed)?.cluster, null);
      assert.ok(store.failedProxies.has(failed));
      assert.deepEqual(
        Object.fromEntries(store.failures.get(failed)!),
        { coord: CTX.now },
        'reports of the failed proxy are kept',
      );
      assert.equal(replacementRecord.cluster, 'c');
      assert.deepEqual(
        value,
        getProxyView(store, replacement, CTX.migrationLimit),
        'the answer is the replacement view',
      );
      assert.deepEqual(
        value.nodes.map((n) => n.repl.role),
        ['replica', 'replica'],
      );

      const view = viewOf(store, 'c', 0);
      assert.deepEqual(
        view.nodes.map((n) => n.repl.role),
        [0, 1, 2, 3].map((i) => (c.masterNodes.includes(i) ? 'master' : 'replica')),
      );
      assert.deepEqual(view.nodes[c.parts[0]]!.slots, [partSlots[0]]);
      assert.deepEqual(view.nodes[c.parts[1]]!.slots, [partSlots[1]]);
      assertConsistent(store);
    });
  }

  test('both halves in turn: slots follow the masters (upstream test_failover_slots)', () => {
    const store = storeWithProxies(4, 3);
    must(store, { kind: 'addCluster', name: 'c', nodeNumber: 4 });
    const [first, second] = chunkOf(store, 'c').proxy_addresses;
    const half = (start: number, end: number) => [{ range_list: [[start, end]], tag: 'None' }];
    assert.deepEqual(slotsOf(store, 'c'), [half(0, 8191), [], half(8192, 16383), []]);
    succeeds(store, { kind: 'failover', address: first });
    assert.deepEqual(slotsOf(store, 'c'), [[], [], half(8192, 16383), half(0, 8191)]);
    succeeds(store, { kind: 'failover', address: second });
    assert.equal(chunkOf(store, 'c').role_position, 'FirstChunkMaster');
    assert.deepEqual(slotsOf(store, 'c'), [half(0, 8191), half(8192, 16383), [], []]);
    assertConsistent(store);
  });

  test('the answer uses the migration limit of the context', () => {
    const store = storeWithProxies(4, 3);
    must(store, { kind: 'addCluster', name: 'c', nodeNumber: 4 });
    must(store, { kind: 'addNodes', name: 'c', nodeNumber: 8 });
    must(store, { kind: 'expand', name: 'c' });
    const target = chunkOf(store, 'c', 0).proxy_addresses[1];
    const ctx: CommandContext = { ...CTX, migrationLimit: 1 };
    const value = succeeds(store, { kind: 'failover', address: target }, ctx) as ProxyView;
    const replacement = chunkOf(store, 'c', 0).proxy_addresses[1];
    assert.deepEqual(value, getProxyView(store, replacement, 1));
    assert.notDeepEqual(value, getProxyView(store, replacement, 0), 'limit 1 hides some of the migrations');
  });
});

describe('replacement choice', () => {
  // The failed proxy is h1:1; its chunk partner h2:1 survives. Extra
  // clusters add chunk links between hosts.
  const base = ['h1:1', 'h2:1'];
  const cases: {
    name: string;
    proxies: string[];
    links?: [string, string][];
    reported?: string[];
    failed?: string[];
    expected: string;
  }[] = [
    {
      name: 'the host with fewest links to the failed host wins over one with more free proxies',
      proxies: ['h3:1', 'h4:1', 'h4:2', 'h4:3', 'h1:9', 'h4:9'],
      links: [['h1:9', 'h4:9']],
      expected: 'h3:1',
    },
    {
      name: 'links are counted per chunk over all clusters and both chunk sides',
      proxies: ['h3:1', 'h3:2', 'h3:3', 'h4:1', 'h4:2', 'h1:8', 'h3:8', 'h1:7', 'h4:7', 'h4:6', 'h1:6'],
      links: [
        ['h3:8', 'h1:8'],
        ['h1:7', 'h4:7'],
        ['h4:6', 'h1:6'],
      ],
      expected: 'h3:1',
    },
    {
      name: 'on equal links the host with most free proxies wins',
      proxies: ['h3:1', 'h4:1', 'h4:2'],
      expected: 'h4:1',
    },
    {
      name: 'on equal links and free proxies the smallest host name wins, in byte order',
      proxies: ['h9:1', 'h10:1'],
      expected: 'h10:1',
    },
    {
      name: 'on the chosen host the smallest address wins, in byte order',
      proxies: ['h3:900', 'h3:1000'],
      expected: 'h3:1000',
    },
    {
      name: 'the surviving proxy host is never used, even when least linked and fullest (docs/differences.md, item 7)',
      proxies: ['h2:2', 'h2:3', 'h2:4', 'h3:1', 'h1:8', 'h3:8', 'h1:7', 'h3:7'],
      links: [
        ['h1:8', 'h3:8'],
        ['h1:7', 'h3:7'],
      ],
      expected: 'h3:1',
    },
    { name: 'the failed host is never used', proxies: ['h1:2', 'h1:3', 'h3:1'], expected: 'h3:1' },
    {
      name: 'reported and failed free proxies are skipped',
      proxies: ['h3:1', 'h3:2', 'h4:1', 'h4:2', 'h4:3', 'h5:5'],
      reported: ['h3:1', 'h3:2'],
      failed: ['h4:1', 'h4:2', 'h4:3'],
      expected: 'h5:5',
    },
    {
      name: 'a reported proxy does not count towards its host free proxies',
      proxies: ['h3:1', 'h3:2', 'h3:3', 'h4:1', 'h4:2'],
      reported: ['h3:1', 'h3:2'],
      expected: 'h4:1',
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const clusters: Record<string, [string, string][]> = { main: [['h1:1', 'h2:1']] };
      (c.links ?? []).forEach((pair, i) => (clusters[`link${i}`] = [pair]));
      const store = restored({
        proxies: [...base, ...c.proxies],
        clusters,
        failed: c.failed,
        failures: Object.fromEntries((c.reported ?? []).map((a) => [a, { coord: CTX.now }])),
      });
      succeeds(store, { kind: 'failover', address: 'h1:1' });
      assert.deepEqual(chunkOf(store, 'main').proxy_addresses, [c.expected, 'h2:1']);
      assertConsistent(store);
    });
  }

  test('the smallest free address of a host whose proxies were added out of order', () => {
    const store = storeWithProxies(3, 1);
    must(store, { kind: 'addCluster', name: 'c', nodeNumber: 4 });
    for (const port of [7009, 7000, 7005]) {
      must(store, {
        kind: 'addProxy',
        proxy_address: `127.0.0.3:${port}`,
        nodes: [`n${port}a`, `n${port}b`],
        host: null,
      });
    }
    const failed = chunkOf(store, 'c').proxy_addresses[0];
    succeeds(store, { kind: 'failover', address: failed });
    assert.equal(chunkOf(store, 'c').proxy_addresses[0], '127.0.0.3:7000', 'the smallest address, not the first added');
  });
});

describe('failover without a replacement', () => {
  function full(): MutableStore {
    const store = storeWithProxies(2, 1);
    must(store, { kind: 'addCluster', name: 'c', nodeNumber: 4 });
    return store;
  }

  test('keeps the takeover and the failed mark, leaves the proxy in its chunk, answers NO_AVAILABLE_RESOURCE', () => {
    const store = full();
    const failed = proxyAddress(1, 1);
    must(store, { kind: 'addFailure', address: failed, reporter: 'r' });
    const before = documentOf(store);
    failsWithChanges(store, { kind: 'failover', address: failed }, 'NO_AVAILABLE_RESOURCE');
    const after = documentOf(store);
    assert.equal(after.global_epoch, before.global_epoch + 1);
    assert.equal(after.clusters.c!.epoch, after.global_epoch);
    assert.equal(after.clusters.c!.chunks[0]!.role_position, 'SecondChunkMaster');
    assert.deepEqual(after.clusters.c!.chunks[0]!.proxy_addresses, before.clusters.c!.chunks[0]!.proxy_addresses);
    assert.deepEqual(after.all_proxies, before.all_proxies, 'the failed proxy keeps its cluster');
    assert.deepEqual(after.failed_proxies, [failed]);
    assert.deepEqual(after.failures, before.failures);
    // The survivor serves both parts.
    assert.deepEqual(
      viewOf(store, 'c', 0).nodes.map((n) => n.repl.role),
      ['replica', 'replica', 'master', 'master'],
    );
    assertConsistent(store);
  });

  test('repeating it changes no cluster: no new cluster epoch, no migration reset (upstream 8b2effb)', () => {
    const store = full();
    failsWithChanges(store, { kind: 'failover', address: proxyAddress(1, 1) }, 'NO_AVAILABLE_RESOURCE');
    const before = documentOf(store);
    const outcome = applyCommand(store, { kind: 'failover', address: proxyAddress(1, 1) }, CTX);
    assert.equal(outcome.ok ? 'ok' : outcome.error.code, 'NO_AVAILABLE_RESOURCE');
    // Only the global epoch may move (upstream bumps it before noticing the repeat).
    const after = documentOf(store);
    assert.ok(after.global_epoch >= before.global_epoch);
    assert.deepEqual({ ...after, global_epoch: 0 }, { ...before, global_epoch: 0 });
    assertConsistent(store);
  });

  test('a later failover finds a proxy added meanwhile', () => {
    const store = storeWithProxies(3, 1);
    must(store, { kind: 'addCluster', name: 'c', nodeNumber: 4 });
    // Host 3 is the only other host; report its proxy so nothing is free.
    must(store, { kind: 'addFailure', address: proxyAddress(3, 1), reporter: 'r' });
    const failed = chunkOf(store, 'c').proxy_addresses[1];
    failsWithChanges(store, { kind: 'failover', address: failed }, 'NO_AVAILABLE_RESOURCE');
    failsWithChanges(
      store,
      { kind: 'addProxy', proxy_address: proxyAddress(3, 1), nodes: ['x', 'y'], host: null },
      'ALREADY_EXISTED',
    );
    const value = succeeds(store, { kind: 'failover', address: failed }) as ProxyView;
    assert.equal(value.address, proxyAddress(3, 1));
    assert.equal(chunkOf(store, 'c').proxy_addresses[1], proxyAddress(3, 1));
    assert.equal(chunkOf(store, 'c').role_position, 'FirstChunkMaster');
    assertConsistent(store);
  });

  test('the only free proxy on the surviving host is not taken', () => {
    const store = storeWithProxies(2, 2);
    must(store, { kind: 'addCluster', name: 'c', nodeNumber: 4 });
    failsWithChanges(store, { kind: 'failover', address: proxyAddress(1, 1) }, 'NO_AVAILABLE_RESOURCE');
    assert.equal(store.proxies.get(proxyAddress(2, 2))?.cluster, null);
    assertConsistent(store);
  });
});

describe('failover during migration', () => {
  /** 2 chunks expanding onto a third: 0.0,0.1 -> 2.0 and 1.0,1.1 -> 2.1. */
  function expanding(): { store: MutableStore; epoch: number } {
    const store = storeWithProxies(4, 3);
    must(store, { kind: 'addCluster', name: 'c', nodeNumber: 8 });
    must(store, { kind: 'addNodes', name: 'c', nodeNumber: 4 });
    must(store, { kind: 'expand', name: 'c' });
    return { store, epoch: store.globalEpoch };
  }

  /** Migration epochs keyed by `src->dst`, read from the migrating entries. */
  function migrationEpochs(store: MutableStore): Record<string, number> {
    const out: Record<string, number> = {};
    store.clusters.get('c')!.chunks.forEach((chunk, ci) =>
      chunk.migrating_slots.forEach((entries, part) => {
        for (const m of entries)
          if (m.is_migrating) out[`${ci}.${part}->${m.meta.dst_chunk_index}.${m.meta.dst_chunk_part}`] = m.meta.epoch;
      }),
    );
    return out;
  }

  const cases: { name: string; chunk: number; side: 0 | 1; reset: string[] }[] = [
    {
      name: 'a source part: its moves and those into the same destination restart',
      chunk: 0,
      side: 0,
      reset: ['0.0->2.0', '0.1->2.0'],
    },
    { name: 'another source part', chunk: 1, side: 1, reset: ['1.0->2.1', '1.1->2.1'] },
    { name: 'a destination part: every move into it restarts', chunk: 2, side: 1, reset: ['1.0->2.1', '1.1->2.1'] },
    { name: 'the other destination part', chunk: 2, side: 0, reset: ['0.0->2.0', '0.1->2.0'] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const { store, epoch } = expanding();
      const failed = chunkOf(store, 'c', c.chunk).proxy_addresses[c.side];
      succeeds(store, { kind: 'failover', address: failed });
      const takeoverEpoch = store.globalEpoch - 1;
      const all = ['0.0->2.0', '0.1->2.0', '1.0->2.1', '1.1->2.1'];
      assert.deepEqual(
        migrationEpochs(store),
        Object.fromEntries(all.map((k) => [k, c.reset.includes(k) ? takeoverEpoch : epoch])),
      );
      assertConsistent(store);
      // Coordinators see the new epochs and commit with them.
      commitAllShown(store, 'c', CTX, () => assertConsistent(store));
    });
  }

  test('the views name the promoted replica as source after a takeover', () => {
    const { store } = expanding();
    const chunk0 = chunkOf(store, 'c', 0);
    succeeds(store, { kind: 'failover', address: chunk0.proxy_addresses[0] });
    const after = chunkOf(store, 'c', 0);
    const fromPart0 = shownMigrations(store, 'c', 0).filter(
      (s) => migrationMeta(s.tag)!.src_node_address === after.node_addresses[3],
    );
    assert.equal(fromPart0.length, 1, 'the part 0 migration now leaves from node 3');
    assert.equal(migrationMeta(fromPart0[0]!.tag)!.src_proxy_address, after.proxy_addresses[1]);
  });

  test('committing with the epoch from before the takeover is refused', () => {
    const { store } = expanding();
    const stale = shownMigrations(store, 'c', 0)[0]!;
    succeeds(store, { kind: 'failover', address: chunkOf(store, 'c', 0).proxy_addresses[0] });
    failsUnchanged(
      store,
      { kind: 'commitMigration', cluster_name: 'c', slot_range: stale },
      'MIGRATION_TASK_NOT_FOUND',
    );
  });

  test('a repeated failover on the same chunk does not restart migrations again (upstream test_failover_during_migration)', () => {
    // 4 hosts x 1 proxy: 1 chunk expanding onto 1 new chunk, no free proxy left.
    const limit2: CommandContext = { ...CTX, migrationLimit: 2 };
    const store = storeWithProxies(4, 1);
    must(store, { kind: 'addCluster', name: 'c', nodeNumber: 4 }, limit2);
    must(store, { kind: 'addNodes', name: 'c', nodeNumber: 4 }, limit2);
    must(store, { kind: 'expand', name: 'c' }, limit2);
    const epoch1 = store.globalEpoch;
    const nodes = () => viewOf(store, 'c', 2).nodes;
    for (const node of nodes().slice(4)) {
      for (const s of node.slots) assert.equal(migrationMeta(s.tag)!.epoch, epoch1);
    }
    const failed = nodes()[7]!.proxy_address;

    failsWithChanges(store, { kind: 'failover', address: failed }, 'NO_AVAILABLE_RESOURCE', limit2);
    const epoch2 = store.clusters.get('c')!.epoch;
    assert.ok(epoch2 > epoch1);
    const importingEpochs = () =>
      nodes()
        .slice(4, 6)
        .map((n) => n.slots.map((s) => [Object.keys(s.tag)[0], migrationMeta(s.tag)!.epoch]));
    // Node 4 imports part 0 (untouched); node 5 now imports part 1 (restarted).
    assert.deepEqual(importingEpochs(), [[['Importing', epoch1]], [['Importing', epoch2]]]);
    assert.deepEqual(
      nodes()
        .slice(6)
        .map((n) => n.slots),
      [[], []],
    );

    failsWithChanges(store, { kind: 'failover', address: failed }, 'NO_AVAILABLE_RESOURCE', limit2);
    assert.deepEqual(importingEpochs(), [[['Importing', epoch1]], [['Importing', epoch2]]]);
    assert.equal(store.clusters.get('c')!.epoch, epoch2, 'the cluster epoch stays');
    assertConsistent(store);
  });
});
