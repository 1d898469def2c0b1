/** What a coordinator does with the views: find migrations shown and commit them. */
import assert from 'node:assert/strict';
import type { CommandContext } from '../../src/domain/commands.js';
import { countSlots } from '../../src/domain/ranges.js';
import type { ClusterView, MetaStore, MutableStore, NodeView, SlotRange } from '../../src/domain/types.js';
import { getClusterView } from '../../src/domain/views.js';
import { CTX } from '../fixtures/stores.js';
import { succeeds } from './expect.js';

export function viewOf(store: MetaStore, name: string, limit: number): ClusterView {
  const view = getClusterView(store, name, limit);
  assert.ok(view, `cluster ${name} exists`);
  return view;
}

export function masters(view: ClusterView): NodeView[] {
  return view.nodes.filter((n) => n.repl.role === 'master');
}

/** Migrating ranges on masters, in node order, as a coordinator reads them. */
export function shownMigrations(store: MetaStore, name: string, limit: number): SlotRange[] {
  return masters(viewOf(store, name, limit)).flatMap((n) =>
    n.slots.filter((s) => s.tag !== 'None' && 'Migrating' in s.tag),
  );
}

export function hasStoredMigration(store: MetaStore, name: string): boolean {
  const cluster = store.clusters.get(name);
  assert.ok(cluster);
  return cluster.chunks.some((c) => c.migrating_slots[0].length + c.migrating_slots[1].length > 0);
}

/**
 * Commits every migration the views show, round after round, until the
 * store holds none. `afterEach` runs after each commit.
 */
export function commitAllShown(
  store: MutableStore,
  name: string,
  ctx: CommandContext = CTX,
  afterEach: () => void = () => {},
): number {
  let commits = 0;
  for (let round = 0; ; round++) {
    const shown = shownMigrations(store, name, ctx.migrationLimit);
    if (shown.length === 0) break;
    assert.ok(round < 10_000, 'migrations keep showing up');
    for (const slot_range of shown) {
      succeeds(store, { kind: 'commitMigration', cluster_name: name, slot_range }, ctx);
      commits += 1;
      afterEach();
    }
  }
  assert.equal(hasStoredMigration(store, name), false, 'no view shows a migration while the store still holds one');
  return commits;
}

/** Slot counts of the masters (stable ranges only), in node order. */
export function masterSlotCounts(store: MetaStore, name: string): number[] {
  return masters(viewOf(store, name, 0)).map((n) => n.slots.reduce((sum, s) => sum + countSlots(s.range_list), 0));
}
