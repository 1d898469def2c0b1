/** Helpers over chunks shared by several commands. */
import { SLOT_NUM } from './constants.js';
import type { ChunkStore, ClusterStore, ProxyResource, SlotRange } from './types.js';

export function hasRunningMigration(cluster: ClusterStore): boolean {
  return cluster.chunks.some((c) => c.migrating_slots[0].length > 0 || c.migrating_slots[1].length > 0);
}

/**
 * Chunks for freshly allocated proxy pairs. With `withSlots`, the masters
 * in chunk order get consecutive ranges: SLOT_NUM / masters each, the first
 * SLOT_NUM % masters one more.
 */
export function newChunks(
  pairs: readonly (readonly [ProxyResource, ProxyResource])[],
  withSlots: boolean,
): ChunkStore[] {
  const masters = pairs.length * 2;
  const average = Math.floor(SLOT_NUM / masters);
  const remainder = SLOT_NUM - average * masters;
  let next = 0;
  const slotsFor = (master: number): SlotRange => {
    const start = next;
    next += average + (master < remainder ? 1 : 0);
    return { range_list: [[start, next - 1]], tag: 'None' };
  };
  return pairs.map(([a, b], i) => ({
    role_position: 'Normal',
    stable_slots: withSlots ? [slotsFor(2 * i), slotsFor(2 * i + 1)] : [null, null],
    migrating_slots: [[], []],
    proxy_addresses: [a.proxy_address, b.proxy_address],
    hosts: [a.host, b.host],
    node_addresses: [a.node_addresses[0], a.node_addresses[1], b.node_addresses[0], b.node_addresses[1]],
  }));
}

/** Index of the chunk holding the proxy and the proxy's side (0 or 1), or null. */
export function findProxyInChunks(cluster: ClusterStore, address: string): { chunk: number; side: 0 | 1 } | null {
  for (let i = 0; i < cluster.chunks.length; i++) {
    const c = cluster.chunks[i]!;
    if (c.proxy_addresses[0] === address) return { chunk: i, side: 0 };
    if (c.proxy_addresses[1] === address) return { chunk: i, side: 1 };
  }
  return null;
}
