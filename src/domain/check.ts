/**
 * Consistency of a store: what must hold after every command and what a
 * restored document must satisfy. Returns the problems found, first first;
 * logging or refusing is the caller's business.
 */
import { SLOT_NUM } from './constants.js';
import { isValidClusterName } from './names.js';
import type { ClusterStore, MetaStore, MigrationSlotRangeStore } from './types.js';

function checkClusterSlots(cluster: ClusterStore, problems: string[]): void {
  const owner = new Uint8Array(SLOT_NUM);
  const name = cluster.name;
  const claim = (ranges: readonly (readonly [number, number])[], where: string) => {
    for (const [start, end] of ranges) {
      if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end >= SLOT_NUM || start > end) {
        problems.push(`cluster ${name}: ${where} has an invalid range [${start}, ${end}]`);
        continue;
      }
      for (let s = start; s <= end; s++) {
        if (owner[s]) {
          problems.push(`cluster ${name}: slot ${s} is owned twice (${where})`);
          return;
        }
        owner[s] = 1;
      }
    }
  };
  const n = cluster.chunks.length;
  cluster.chunks.forEach((chunk, ci) => {
    for (let part = 0; part < 2; part++) {
      const stable = chunk.stable_slots[part];
      if (stable) claim(stable.range_list, `chunk ${ci} part ${part} stable slots`);
      for (const m of chunk.migrating_slots[part]!) {
        const { src_chunk_index: si, src_chunk_part: sp, dst_chunk_index: di, dst_chunk_part: dp } = m.meta;
        if (si >= n || di >= n || (sp !== 0 && sp !== 1) || (dp !== 0 && dp !== 1)) {
          problems.push(`cluster ${name}: chunk ${ci} part ${part} has a migration naming a missing chunk part`);
          continue;
        }
        const here = m.is_migrating ? si === ci && sp === part : di === ci && dp === part;
        if (!here) problems.push(`cluster ${name}: chunk ${ci} part ${part} holds a migration that belongs elsewhere`);
        const peer = cluster.chunks[m.is_migrating ? di : si]!.migrating_slots[m.is_migrating ? dp : sp]!;
        if (!peer.some((p) => isPeerEntry(m, p))) {
          problems.push(`cluster ${name}: chunk ${ci} part ${part} has a migration without its ${m.is_migrating ? 'importing' : 'migrating'} side`);
        }
        if (m.is_migrating) claim(m.range_list, `chunk ${ci} part ${part} migrating slots`);
      }
    }
  });
  const missing = owner.indexOf(0);
  if (missing >= 0) problems.push(`cluster ${name}: slot ${missing} has no owner`);
}

function isPeerEntry(a: MigrationSlotRangeStore, b: MigrationSlotRangeStore): boolean {
  return (
    a.is_migrating !== b.is_migrating &&
    a.meta.epoch === b.meta.epoch &&
    a.meta.src_chunk_index === b.meta.src_chunk_index &&
    a.meta.src_chunk_part === b.meta.src_chunk_part &&
    a.meta.dst_chunk_index === b.meta.dst_chunk_index &&
    a.meta.dst_chunk_part === b.meta.dst_chunk_part &&
    a.range_list.length === b.range_list.length &&
    a.range_list.every((r, i) => r[0] === b.range_list[i]![0] && r[1] === b.range_list[i]![1])
  );
}

export function checkMetadata(store: MetaStore): string[] {
  const problems: string[] = [];
  // Forced epochs stop at MAX_EPOCH; the changes after one go past it, and the
  // broker must still restore its own document. Only inexact numbers are refused.
  if (!Number.isSafeInteger(store.globalEpoch)) problems.push(`global_epoch ${store.globalEpoch} is not an exact integer`);
  for (const [address, proxy] of store.proxies) {
    if (proxy.proxy_address !== address) problems.push(`proxy ${address}: its record names ${proxy.proxy_address}`);
  }
  const chunkOf = new Map<string, string>();
  for (const [key, cluster] of store.clusters) {
    if (cluster.name !== key) problems.push(`cluster ${key}: its record names ${cluster.name}`);
    if (cluster.epoch > store.globalEpoch) problems.push(`cluster ${key}: epoch ${cluster.epoch} is beyond global_epoch ${store.globalEpoch}`);
    if (!isValidClusterName(key)) problems.push(`cluster ${key}: invalid cluster name`);
    cluster.chunks.forEach((chunk, ci) => {
      for (let side = 0; side < 2; side++) {
        const address = chunk.proxy_addresses[side]!;
        const where = `cluster ${key} chunk ${ci}`;
        const seen = chunkOf.get(address);
        if (seen !== undefined) problems.push(`${where}: proxy ${address} is also in ${seen}`);
        chunkOf.set(address, where);
        const proxy = store.proxies.get(address);
        if (!proxy) {
          problems.push(`${where}: proxy ${address} is not a known proxy`);
          continue;
        }
        if (proxy.cluster !== key) problems.push(`${where}: proxy ${address} says its cluster is ${proxy.cluster}`);
        if (proxy.host !== chunk.hosts[side]) problems.push(`${where}: host of ${address} is ${proxy.host}, the chunk says ${chunk.hosts[side]}`);
        const nodes = [chunk.node_addresses[side * 2], chunk.node_addresses[side * 2 + 1]];
        if (nodes[0] !== proxy.node_addresses[0] || nodes[1] !== proxy.node_addresses[1]) {
          problems.push(`${where}: node addresses of ${address} differ from the proxy's`);
        }
      }
    });
    checkClusterSlots(cluster, problems);
  }
  for (const [address, proxy] of store.proxies) {
    if (proxy.cluster === null) continue;
    if (!store.clusters.has(proxy.cluster)) problems.push(`proxy ${address}: its cluster ${proxy.cluster} does not exist`);
    else if (!chunkOf.has(address)) problems.push(`proxy ${address}: not in any chunk of cluster ${proxy.cluster}`);
  }
  return problems;
}
