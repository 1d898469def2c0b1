import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Command } from '../../src/domain/commands.js';
import type { ErrorCode } from '../../src/domain/errors.js';
import type { ClusterStore, MutableStore, Range, SlotRange } from '../../src/domain/types.js';
import { must, storeWithProxies } from '../fixtures/stores.js';
import { commitAllShown, masterSlotCounts, masters, shownMigrations, viewOf } from '../helpers/coordinator.js';
import { failsUnchanged, succeeds } from '../helpers/expect.js';
import { assertConsistent, migrationMeta } from '../helpers/invariants.js';

interface Move {
  readonly from: string;
  readonly to: string;
  readonly ranges: readonly Range[];
}

/**
 * The stored migrations as `chunk.part -> chunk.part` moves, checking both
 * sides agree and, when given, that they carry `epoch`.
 */
function storedMoves(cluster: ClusterStore, epoch?: number): Move[] {
  const moves: Move[] = [];
  const importing = new Set<string>();
  cluster.chunks.forEach((chunk, ci) => {
    chunk.migrating_slots.forEach((entries, part) => {
      for (const m of entries) {
        const key = `${m.meta.src_chunk_index}.${m.meta.src_chunk_part}->${m.meta.dst_chunk_index}.${m.meta.dst_chunk_part}@${m.meta.epoch}:${JSON.stringify(m.range_list)}`;
        if (m.is_migrating) {
          assert.deepEqual(
            [m.meta.src_chunk_index, m.meta.src_chunk_part],
            [ci, part],
            'a migrating entry sits at its source',
          );
          moves.push({
            from: `${ci}.${part}`,
            to: `${m.meta.dst_chunk_index}.${m.meta.dst_chunk_part}`,
            ranges: m.range_list,
          });
          if (epoch !== undefined) assert.equal(m.meta.epoch, epoch, 'migration epoch');
        } else {
          assert.deepEqual(
            [m.meta.dst_chunk_index, m.meta.dst_chunk_part],
            [ci, part],
            'an importing entry sits at its destination',
          );
          importing.add(key);
        }
      }
    });
  });
  assert.equal(importing.size, moves.length, 'every move has an importing side');
  return moves;
}

function stableOf(cluster: ClusterStore): (readonly Range[] | null)[] {
  return cluster.chunks.flatMap((c) => c.stable_slots.map((s) => (s ? s.range_list : null)));
}

function grown(start: number, added: number): MutableStore {
  const store = storeWithProxies(4, 3);
  must(store, { kind: 'addCluster', name: 'c', nodeNumber: start });
  must(store, { kind: 'addNodes', name: 'c', nodeNumber: added });
  return store;
}

function cluster(nodes: number): MutableStore {
  const store = storeWithProxies(4, 3);
  must(store, { kind: 'addCluster', name: 'c', nodeNumber: nodes });
  return store;
}

/**
 * Expanding 2 chunks onto 1 new chunk, then committing only the first
 * move into each new master: every part has stable slots while two moves
 * still run. Shrink then meets MIGRATION_RUNNING instead of FREE_NODE_FOUND.
 */
function runningWithoutEmptyParts(): MutableStore {
  const store = grown(8, 4);
  must(store, { kind: 'expand', name: 'c' });
  const shown = shownMigrations(store, 'c', 0);
  const intoPart = new Set<string>();
  for (const slot_range of shown) {
    const meta = migrationMeta(slot_range.tag)!;
    if (intoPart.has(meta.dst_node_address)) continue;
    intoPart.add(meta.dst_node_address);
    must(store, { kind: 'commitMigration', cluster_name: 'c', slot_range });
  }
  const c = store.clusters.get('c')!;
  assert.ok(
    c.chunks.every((ch) => ch.stable_slots[0] && ch.stable_slots[1]),
    'every part has stable slots',
  );
  assert.equal(storedMoves(c).length, 2, 'two moves still run');
  return store;
}

describe('expand', () => {
  const plans: { name: string; start: number; added: number; moves: Move[]; stable: ([number, number][] | null)[] }[] =
    [
      {
        name: '1 chunk onto 1 new chunk: each master hands its upper half to one new master',
        start: 4,
        added: 4,
        moves: [
          { from: '0.0', to: '1.0', ranges: [[4096, 8191]] },
          { from: '0.1', to: '1.1', ranges: [[12288, 16383]] },
        ],
        stable: [[[0, 4095]], [[8192, 12287]], null, null],
      },
      {
        name: '2 chunks onto 1 new chunk: two sources feed each new master, the first 4 masters keep one slot more',
        start: 8,
        added: 4,
        moves: [
          { from: '0.0', to: '2.0', ranges: [[2731, 4095]] },
          { from: '0.1', to: '2.0', ranges: [[6827, 8191]] },
          { from: '1.0', to: '2.1', ranges: [[10923, 12287]] },
          { from: '1.1', to: '2.1', ranges: [[15019, 16383]] },
        ],
        stable: [[[0, 2730]], [[4096, 6826]], [[8192, 10922]], [[12288, 15018]], null, null],
      },
      {
        name: '1 chunk onto 2 new chunks: a source feeds several masters, a master takes from several sources',
        start: 4,
        added: 8,
        moves: [
          { from: '0.0', to: '1.0', ranges: [[5461, 8191]] },
          { from: '0.0', to: '1.1', ranges: [[2731, 5460]] },
          { from: '0.1', to: '1.1', ranges: [[16383, 16383]] },
          { from: '0.1', to: '2.0', ranges: [[13653, 16382]] },
          { from: '0.1', to: '2.1', ranges: [[10923, 13652]] },
        ],
        stable: [[[0, 2730]], [[8192, 10922]], null, null, null, null],
      },
    ];
  for (const p of plans) {
    test(`plan: ${p.name}`, () => {
      const store = grown(p.start, p.added);
      succeeds(store, { kind: 'expand', name: 'c' });
      const c = store.clusters.get('c')!;
      // New migrations carry the epoch of the command, which the cluster takes too.
      assert.deepEqual(storedMoves(c, store.globalEpoch), p.moves);
      assert.deepEqual(stableOf(c), p.stable);
      assertConsistent(store);
      commitAllShown(store, 'c', undefined, () => assertConsistent(store));
      const counts = masterSlotCounts(store, 'c');
      assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `balanced: ${counts}`);
      // After all commits every master has one compact stable range list.
      for (const node of masters(viewOf(store, 'c', 0))) {
        assert.equal(node.slots.length, 1);
        assert.equal(node.slots[0]!.tag, 'None');
      }
    });
  }

  const failures: { name: string; setup: () => MutableStore; cluster?: string; code: ErrorCode }[] = [
    { name: 'invalid name', setup: () => grown(4, 4), cluster: 'x!', code: 'INVALID_CLUSTER_NAME' },
    { name: 'unknown cluster', setup: () => grown(4, 4), cluster: 'x', code: 'CLUSTER_NOT_FOUND' },
    { name: 'no empty chunk (docs/differences.md, item 2)', setup: () => cluster(8), code: 'SLOTS_ALREADY_EVEN' },
    {
      name: 'SLOTS_ALREADY_EVEN before MIGRATION_RUNNING',
      setup: runningWithoutEmptyParts,
      code: 'SLOTS_ALREADY_EVEN',
    },
    {
      name: 'expanding twice',
      setup: () => {
        const store = grown(4, 4);
        must(store, { kind: 'expand', name: 'c' });
        return store;
      },
      code: 'MIGRATION_RUNNING',
    },
    {
      name: 'expanding while shrinking',
      setup: () => {
        const store = cluster(8);
        must(store, { kind: 'shrink', name: 'c', nodeNumber: 4 });
        return store;
      },
      code: 'MIGRATION_RUNNING',
    },
  ];
  for (const c of failures) {
    test(`${c.code}: ${c.name}`, () => {
      failsUnchanged(c.setup(), { kind: 'expand', name: c.cluster ?? 'c' }, c.code);
    });
  }
});

describe('shrink', () => {
  const plans: { name: string; start: number; to: number; moves: Move[]; stable: ([number, number][] | null)[] }[] = [
    {
      name: '2 chunks into 1',
      start: 8,
      to: 4,
      moves: [
        { from: '1.0', to: '0.0', ranges: [[8192, 12287]] },
        { from: '1.1', to: '0.1', ranges: [[12288, 16383]] },
      ],
      stable: [[[0, 4095]], [[4096, 8191]], null, null],
    },
    {
      name: '3 chunks into 2: one source splits over two destinations, taking from the start of its ranges',
      start: 12,
      to: 8,
      moves: [
        { from: '2.0', to: '0.0', ranges: [[10924, 12288]] },
        { from: '2.0', to: '0.1', ranges: [[12289, 13653]] },
        { from: '2.1', to: '1.0', ranges: [[13654, 15018]] },
        { from: '2.1', to: '1.1', ranges: [[15019, 16383]] },
      ],
      stable: [[[0, 2730]], [[2731, 5461]], [[5462, 8192]], [[8193, 10923]], null, null],
    },
    {
      name: '3 chunks into 1: each destination fills up to its share before the next one',
      start: 12,
      to: 4,
      moves: [
        { from: '1.0', to: '0.0', ranges: [[5462, 8192]] },
        { from: '1.1', to: '0.0', ranges: [[8193, 10922]] },
        { from: '1.1', to: '0.1', ranges: [[10923, 10923]] },
        { from: '2.0', to: '0.1', ranges: [[10924, 13653]] },
        { from: '2.1', to: '0.1', ranges: [[13654, 16383]] },
      ],
      stable: [[[0, 2730]], [[2731, 5461]], null, null, null, null],
    },
  ];
  for (const p of plans) {
    test(`plan: ${p.name}`, () => {
      const store = cluster(p.start);
      succeeds(store, { kind: 'shrink', name: 'c', nodeNumber: p.to });
      const c = store.clusters.get('c')!;
      // New migrations carry the epoch of the command, which the cluster takes too.
      assert.deepEqual(storedMoves(c, store.globalEpoch), p.moves);
      assert.deepEqual(stableOf(c), p.stable);
      assertConsistent(store);
      commitAllShown(store, 'c', undefined, () => assertConsistent(store));
      succeeds(store, { kind: 'deleteFreeNodes', name: 'c' });
      const counts = masterSlotCounts(store, 'c');
      assert.equal(counts.length, p.to / 2);
      assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `balanced: ${counts}`);
      assertConsistent(store);
    });
  }
});

describe('shrink errors', () => {
  const failures: { name: string; setup: () => MutableStore; cluster?: string; to: number; code: ErrorCode }[] = [
    { name: 'invalid name', setup: () => cluster(8), cluster: '-+-', to: 3, code: 'INVALID_CLUSTER_NAME' },
    { name: 'unknown cluster', setup: () => cluster(8), cluster: 'd', to: 3, code: 'CLUSTER_NOT_FOUND' },
    // The reference spells this FREE_NODE_NOT_FOUND; upstream 1e287ba and
    // docs/differences.md (item 2) name it FREE_NODE_FOUND.
    { name: 'empty chunks exist, before the node number', setup: () => grown(4, 4), to: 3, code: 'FREE_NODE_FOUND' },
    {
      name: 'an expansion leaves empty parts',
      setup: () => {
        const store = grown(4, 4);
        must(store, { kind: 'expand', name: 'c' });
        return store;
      },
      to: 4,
      code: 'FREE_NODE_FOUND',
    },
    {
      name: 'MIGRATION_RUNNING before the node number',
      setup: runningWithoutEmptyParts,
      to: 3,
      code: 'MIGRATION_RUNNING',
    },
    { name: 'zero nodes', setup: () => cluster(8), to: 0, code: 'INVALID_NODE_NUMBER' },
    { name: 'not a multiple of 4', setup: () => cluster(8), to: 2, code: 'INVALID_NODE_NUMBER' },
    { name: 'negative', setup: () => cluster(8), to: -4, code: 'INVALID_NODE_NUMBER' },
    { name: 'the current node count', setup: () => cluster(8), to: 8, code: 'INVALID_NODE_NUMBER' },
    { name: 'more than the current node count', setup: () => cluster(8), to: 12, code: 'INVALID_NODE_NUMBER' },
    { name: 'a one-chunk cluster cannot shrink', setup: () => cluster(4), to: 4, code: 'INVALID_NODE_NUMBER' },
  ];
  for (const c of failures) {
    test(`${c.code}: ${c.name}`, () => {
      failsUnchanged(c.setup(), { kind: 'shrink', name: c.cluster ?? 'c', nodeNumber: c.to }, c.code);
    });
  }
});

describe('commit migration', () => {
  function expanding(): MutableStore {
    const store = grown(4, 4);
    must(store, { kind: 'expand', name: 'c' });
    return store;
  }

  test('moves the committed range into the destination stable slots and takes the new epoch', () => {
    const store = expanding();
    const [first, second] = shownMigrations(store, 'c', 0);
    assert.ok(first && second);
    succeeds(store, { kind: 'commitMigration', cluster_name: 'c', slot_range: first });
    const c = store.clusters.get('c')!;
    assert.equal(c.epoch, store.globalEpoch);
    assert.deepEqual(stableOf(c), [[[0, 4095]], [[8192, 12287]], [[4096, 8191]], null]);
    assert.deepEqual(storedMoves(c, migrationMeta(second.tag)!.epoch), [
      { from: '0.1', to: '1.1', ranges: [[12288, 16383]] },
    ]);
    assertConsistent(store);
  });

  test('the importing range as shown commits the same migration', () => {
    const store = expanding();
    const importing = viewOf(store, 'c', 0).nodes.flatMap((n) =>
      n.slots.filter((s) => s.tag !== 'None' && 'Importing' in s.tag),
    );
    assert.equal(importing.length, 2);
    for (const slot_range of importing) succeeds(store, { kind: 'commitMigration', cluster_name: 'c', slot_range });
    assert.deepEqual(stableOf(store.clusters.get('c')!), [
      [[0, 4095]],
      [[8192, 12287]],
      [[4096, 8191]],
      [[12288, 16383]],
    ]);
    assertConsistent(store);
  });

  test('commits merge into an existing stable range list, kept sorted and merged', () => {
    const store = grown(8, 4);
    must(store, { kind: 'expand', name: 'c' });
    commitAllShown(store, 'c');
    // 2.0 got [2731, 4095] and [6827, 8191]; 2.1 got [10923, 12287] and [15019, 16383].
    assert.deepEqual(stableOf(store.clusters.get('c')!).slice(4), [
      [
        [2731, 4095],
        [6827, 8191],
      ],
      [
        [10923, 12287],
        [15019, 16383],
      ],
    ]);
  });

  function migratingRange(store: MutableStore): SlotRange {
    const shown = shownMigrations(store, 'c', 0)[0];
    assert.ok(shown);
    return shown;
  }

  const failures: { name: string; setup: () => MutableStore; cmd: (s: MutableStore) => Command; code: ErrorCode }[] = [
    {
      name: 'invalid cluster name',
      setup: expanding,
      cmd: (s) => ({ kind: 'commitMigration', cluster_name: 'c c', slot_range: migratingRange(s) }),
      code: 'INVALID_CLUSTER_NAME',
    },
    {
      name: 'unknown cluster',
      setup: expanding,
      cmd: (s) => ({ kind: 'commitMigration', cluster_name: 'd', slot_range: migratingRange(s) }),
      code: 'CLUSTER_NOT_FOUND',
    },
    {
      name: 'a stable range is no task, even one that does not exist',
      setup: expanding,
      cmd: () => ({ kind: 'commitMigration', cluster_name: 'c', slot_range: { range_list: [[1, 2]], tag: 'None' } }),
      code: 'INVALID_MIGRATION_TASK',
    },
    {
      name: 'another epoch',
      setup: expanding,
      cmd: (s) => {
        const r = migratingRange(s);
        const meta = migrationMeta(r.tag)!;
        return {
          kind: 'commitMigration',
          cluster_name: 'c',
          slot_range: { ...r, tag: { Migrating: { ...meta, epoch: meta.epoch + 1 } } },
        };
      },
      code: 'MIGRATION_TASK_NOT_FOUND',
    },
    {
      name: 'part of a migrating range',
      setup: expanding,
      cmd: (s) => ({
        kind: 'commitMigration',
        cluster_name: 'c',
        slot_range: { ...migratingRange(s), range_list: [[4096, 4100]] },
      }),
      code: 'MIGRATION_TASK_NOT_FOUND',
    },
    {
      name: 'two migrating ranges at once',
      setup: expanding,
      cmd: (s) => ({
        kind: 'commitMigration',
        cluster_name: 'c',
        slot_range: {
          ...migratingRange(s),
          range_list: [
            [4096, 8191],
            [12288, 16383],
          ],
        },
      }),
      code: 'MIGRATION_TASK_NOT_FOUND',
    },
    {
      name: 'a migration already committed',
      setup: expanding,
      cmd: (s) => {
        const r = migratingRange(s);
        must(s, { kind: 'commitMigration', cluster_name: 'c', slot_range: r });
        return { kind: 'commitMigration', cluster_name: 'c', slot_range: r };
      },
      code: 'MIGRATION_TASK_NOT_FOUND',
    },
    {
      name: 'a migration of another cluster',
      setup: () => {
        const store = expanding();
        must(store, { kind: 'addCluster', name: 'd', nodeNumber: 4 });
        return store;
      },
      cmd: (s) => ({ kind: 'commitMigration', cluster_name: 'd', slot_range: migratingRange(s) }),
      code: 'MIGRATION_TASK_NOT_FOUND',
    },
  ];
  for (const c of failures) {
    test(`${c.code}: ${c.name}`, () => {
      const store = c.setup();
      const cmd = c.cmd(store);
      failsUnchanged(store, cmd, c.code);
    });
  }
});
