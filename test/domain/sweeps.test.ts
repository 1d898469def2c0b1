/**
 * Scaling sweeps after the reference test_migration / test_scaling_down /
 * test_multiple_migration: many fleet shapes, grown and shrunk the way a
 * coordinator drives them, checked after every step.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CommandContext } from '../../src/domain/commands.js';
import { countSlots } from '../../src/domain/ranges.js';
import type { MutableStore, NodeView } from '../../src/domain/types.js';
import { CTX, storeWithProxies } from '../fixtures/stores.js';
import { commitAllShown, masters, viewOf } from '../helpers/coordinator.js';
import { failsUnchanged, succeeds } from '../helpers/expect.js';
import { assertConsistent } from '../helpers/invariants.js';

const NAME = 'sweep';

function freeProxies(store: MutableStore): number {
  let n = 0;
  for (const p of store.proxies.values()) if (p.cluster === null) n += 1;
  return n;
}

/**
 * Balanced and settled: each master one stable range list (sorted and
 * merged), counts within 1 of each other and not rising in node order.
 */
function assertBalanced(store: MutableStore, nodes: number): void {
  const view = viewOf(store, NAME, 0);
  assert.equal(view.nodes.length, nodes);
  const counts: number[] = [];
  for (const node of masters(view)) {
    assert.equal(node.slots.length, 1, `master ${node.address} has one slot range`);
    const [only] = node.slots;
    assert.equal(only!.tag, 'None');
    const ranges = only!.range_list;
    for (let i = 1; i < ranges.length; i++)
      assert.ok(ranges[i - 1]![1] + 1 < ranges[i]![0], 'ranges are sorted and merged');
    counts.push(countSlots(ranges));
  }
  const average = Math.floor(16384 / counts.length);
  for (let i = 0; i < counts.length; i++) {
    assert.ok(counts[i] === average || counts[i] === average + 1, `master ${i} holds ${counts[i]}, average ${average}`);
    if (i > 0) assert.ok(counts[i]! <= counts[i - 1]!, 'slot counts do not rise in node order');
  }
}

/** Expands onto the empty chunks and commits everything the views show. */
function expandAll(store: MutableStore, ctx: CommandContext): void {
  // Nodes of the chunks that hold slots; the empty chunks follow them.
  const before = 4 * store.clusters.get(NAME)!.chunks.filter((c) => c.stable_slots[0] !== null).length;
  succeeds(store, { kind: 'expand', name: NAME }, ctx);
  for (const limit of new Set([0, ctx.migrationLimit])) {
    // Old masters keep a stable range first, then migrate out; new masters only import.
    viewOf(store, NAME, limit).nodes.forEach((node: NodeView, i) => {
      if (node.repl.role === 'replica') return;
      if (i < before) {
        assert.equal(node.slots[0]?.tag, 'None');
        for (const s of node.slots.slice(1)) assert.ok(s.tag !== 'None' && 'Migrating' in s.tag);
      } else {
        for (const s of node.slots) assert.ok(s.tag !== 'None' && 'Importing' in s.tag);
        if (limit === 0) assert.ok(node.slots.length >= 1, 'without a limit every new master imports');
      }
    });
  }
  assertConsistent(store);
  commitAllShown(store, NAME, ctx, () => assertConsistent(store));
}

/** Shrinks to `nodes`, commits everything and deletes the emptied chunks. */
function shrinkAll(store: MutableStore, nodes: number, ctx: CommandContext): void {
  succeeds(store, { kind: 'shrink', name: NAME, nodeNumber: nodes }, ctx);
  viewOf(store, NAME, 0).nodes.forEach((node, i) => {
    if (node.repl.role === 'replica') return;
    if (i >= nodes)
      for (const s of node.slots)
        assert.ok(s.tag !== 'None' && 'Migrating' in s.tag, 'removed masters only migrate out');
    else assert.equal(node.slots[0]?.tag, 'None');
  });
  assertConsistent(store);
  commitAllShown(store, NAME, ctx, () => assertConsistent(store));
  succeeds(store, { kind: 'deleteFreeNodes', name: NAME }, ctx);
  assertConsistent(store);
}

interface Shape {
  readonly hosts: number;
  readonly perHost: number;
  readonly limit: number;
}

const shapes: Shape[] = [];
for (let hosts = 2; hosts <= 6; hosts++) {
  for (let perHost = 1; perHost <= 6; perHost++) {
    for (const limit of [0, 1]) shapes.push({ hosts, perHost, limit });
  }
}

describe('scale up, then back down', () => {
  for (const { hosts, perHost, limit } of shapes) {
    const chunks = Math.floor((hosts * perHost) / 2);
    test(`${hosts} hosts x ${perHost} proxies, migration limit ${limit}`, () => {
      const ctx: CommandContext = { ...CTX, migrationLimit: limit };
      if (chunks < 2) {
        // Room for one chunk only: nothing to scale, and the fleet says so.
        const store = storeWithProxies(hosts, perHost);
        succeeds(store, { kind: 'addCluster', name: NAME, nodeNumber: 4 }, ctx);
        failsUnchanged(store, { kind: 'addNodes', name: NAME, nodeNumber: 4 }, 'NO_AVAILABLE_RESOURCE', ctx);
        return;
      }
      const starts = [...new Set([1, Math.ceil((chunks - 1) / 2), chunks - 1])];
      for (const start of starts) {
        for (const added of new Set([1, chunks - start])) {
          const store = storeWithProxies(hosts, perHost);
          const all = hosts * perHost;
          succeeds(store, { kind: 'addCluster', name: NAME, nodeNumber: 4 * start }, ctx);
          assertBalanced(store, 4 * start);
          const nodes = succeeds(store, { kind: 'addNodes', name: NAME, nodeNumber: 4 * added }, ctx) as NodeView[];
          assert.equal(nodes.length, 4 * added);
          assert.equal(freeProxies(store), all - 2 * (start + added));
          assertConsistent(store);
          expandAll(store, ctx);
          assertBalanced(store, 4 * (start + added));
          shrinkAll(store, 4 * start, ctx);
          assertBalanced(store, 4 * start);
          assert.equal(freeProxies(store), all - 2 * start);
        }
      }
    });
  }
});

describe('grow one chunk at a time until full, then shrink one at a time', () => {
  for (const { hosts, perHost, limit } of shapes) {
    const chunks = Math.floor((hosts * perHost) / 2);
    if (chunks < 2) continue;
    test(`${hosts} hosts x ${perHost} proxies, migration limit ${limit}`, () => {
      const ctx: CommandContext = { ...CTX, migrationLimit: limit };
      const store = storeWithProxies(hosts, perHost);
      succeeds(store, { kind: 'addCluster', name: NAME, nodeNumber: 4 }, ctx);
      for (let n = 2; n <= chunks; n++) {
        succeeds(store, { kind: 'addNodes', name: NAME, nodeNumber: 4 }, ctx);
        expandAll(store, ctx);
        assertBalanced(store, 4 * n);
      }
      for (let n = chunks - 1; n >= 1; n--) {
        shrinkAll(store, 4 * n, ctx);
        assertBalanced(store, 4 * n);
      }
      assert.equal(freeProxies(store), hosts * perHost - 2);
    });
  }
});

test('scale down by half, up by 8 and 4 nodes, down by half again (reference test_scaling_up_and_down)', () => {
  const store = storeWithProxies(12, 1);
  succeeds(store, { kind: 'addCluster', name: NAME, nodeNumber: 24 });
  shrinkAll(store, 12, CTX);
  assertBalanced(store, 12);
  for (const added of [8, 4]) {
    succeeds(store, { kind: 'addNodes', name: NAME, nodeNumber: added });
    expandAll(store, CTX);
  }
  assertBalanced(store, 24);
  shrinkAll(store, 12, CTX);
  assertBalanced(store, 12);
});
