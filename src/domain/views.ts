/**
 * Cluster and proxy views served to coordinators (docs/api.md#shapes).
 * Pure functions of a read-only store; nothing here mutates.
 */
import { CHUNK_NODE_NUM } from './constants.js';
import { mergeRanges } from './ranges.js';
import type {
  ChunkStore,
  ClusterStore,
  ClusterView,
  MetaStore,
  MigrationSlotRangeStore,
  NodeView,
  PeerProxyView,
  ProxyView,
  RolePosition,
  SlotRange,
} from './types.js';

/** The node (0..3) that serves a slot part under a role position. */
export function partNodeIndex(part: number, role: RolePosition): number {
  if (part === 0) return role === 'SecondChunkMaster' ? 3 : 0;
  return role === 'FirstChunkMaster' ? 1 : 2;
}

export function isMasterNode(node: number, role: RolePosition): boolean {
  switch (role) {
    case 'Normal':
      return node % 2 === 0;
    case 'FirstChunkMaster':
      return node < 2;
    case 'SecondChunkMaster':
      return node >= 2;
  }
}

/** Replication peers: 0<->3 and 1<->2. */
export function peerNodeIndex(node: number): number {
  return 3 - node;
}

function migrationToSlotRange(m: MigrationSlotRangeStore, chunks: readonly ChunkStore[]): SlotRange {
  const src = chunks[m.meta.src_chunk_index];
  const dst = chunks[m.meta.dst_chunk_index];
  if (!src || !dst) throw new Error(`migration names a missing chunk`);
  const srcNode = partNodeIndex(m.meta.src_chunk_part, src.role_position);
  const dstNode = partNodeIndex(m.meta.dst_chunk_part, dst.role_position);
  const meta = {
    epoch: m.meta.epoch,
    src_proxy_address: src.proxy_addresses[srcNode >> 1]!,
    src_node_address: src.node_addresses[srcNode]!,
    dst_proxy_address: dst.proxy_addresses[dstNode >> 1]!,
    dst_node_address: dst.node_addresses[dstNode]!,
  };
  return { range_list: m.range_list, tag: m.is_migrating ? { Migrating: meta } : { Importing: meta } };
}

/**
 * The cluster as the views show it under a migration limit: at most `limit`
 * migrations at once (0 = all), at most one out of any source part; each
 * withheld migration shows as stable slots of its source. Importing entries
 * are rebuilt from the migrating ones kept.
 */
export function limitMigration(cluster: ClusterStore, limit: number): ClusterStore {
  if (limit === 0) return cluster;
  let running = false;
  for (const chunk of cluster.chunks) {
    if (chunk.migrating_slots[0].length > 0 || chunk.migrating_slots[1].length > 0) running = true;
  }
  if (!running) return cluster;

  const stable = cluster.chunks.map(
    (c) => [c.stable_slots[0], c.stable_slots[1]] as [SlotRange | null, SlotRange | null],
  );
  const migrating = cluster.chunks.map(() => [[], []] as [MigrationSlotRangeStore[], MigrationSlotRangeStore[]]);
  const outPerSource = new Set<string>();
  let shown = 0;
  for (const chunk of cluster.chunks) {
    for (const part of chunk.migrating_slots) {
      for (const m of part) {
        if (!m.is_migrating) continue;
        const { src_chunk_index: si, src_chunk_part: sp, dst_chunk_index: di, dst_chunk_part: dp } = m.meta;
        const source = `${si}:${sp}`;
        if (shown >= limit || outPerSource.has(source)) {
          const prev = stable[si]![sp];
          stable[si]![sp] = { range_list: mergeRanges(prev ? prev.range_list : [], m.range_list), tag: 'None' };
        } else {
          migrating[si]![sp]!.push(m);
          migrating[di]![dp]!.push({ ...m, is_migrating: false });
          shown += 1;
          outPerSource.add(source);
        }
      }
    }
  }
  return {
    ...cluster,
    chunks: cluster.chunks.map((c, i) => ({
      ...c,
      stable_slots: stable[i]!,
      migrating_slots: migrating[i]!,
    })),
  };
}

function chunkNodes(cluster: ClusterStore, chunk: ChunkStore): NodeView[] {
  const nodes: NodeView[] = [];
  const role = chunk.role_position;
  const servingNode = [partNodeIndex(0, role), partNodeIndex(1, role)];
  for (let i = 0; i < CHUNK_NODE_NUM; i++) {
    const slots: SlotRange[] = [];
    for (let part = 0; part < 2; part++) {
      if (servingNode[part] !== i) continue;
      const stable = chunk.stable_slots[part];
      if (stable) slots.push(stable);
      for (const m of chunk.migrating_slots[part]!) slots.push(migrationToSlotRange(m, cluster.chunks));
    }
    const peer = peerNodeIndex(i);
    nodes.push({
      address: chunk.node_addresses[i]!,
      proxy_address: chunk.proxy_addresses[i >> 1]!,
      cluster_name: cluster.name,
      slots,
      repl: {
        role: isMasterNode(i, role) ? 'master' : 'replica',
        peers: [{ node_address: chunk.node_addresses[peer]!, proxy_address: chunk.proxy_addresses[peer >> 1]! }],
      },
    });
  }
  return nodes;
}

const clusterViewCache = new WeakMap<ClusterStore, Map<number, ClusterView>>();

/**
 * The cluster view under a migration limit. Cluster records are immutable
 * and shared between stores, so the view is cached per record and limit.
 */
export function clusterView(cluster: ClusterStore, migrationLimit: number): ClusterView {
  let byLimit = clusterViewCache.get(cluster);
  const hit = byLimit?.get(migrationLimit);
  if (hit) return hit;
  const limited = limitMigration(cluster, migrationLimit);
  const view: ClusterView = {
    name: cluster.name,
    epoch: cluster.epoch,
    nodes: limited.chunks.flatMap((chunk) => chunkNodes(limited, chunk)),
    config: cluster.config,
  };
  if (!byLimit) {
    byLimit = new Map();
    clusterViewCache.set(cluster, byLimit);
  }
  byLimit.set(migrationLimit, view);
  return view;
}

export function getClusterView(store: MetaStore, name: string, migrationLimit: number): ClusterView | null {
  const cluster = store.clusters.get(name);
  return cluster ? clusterView(cluster, migrationLimit) : null;
}

export function getProxyView(store: MetaStore, address: string, migrationLimit: number): ProxyView | null {
  const proxy = store.proxies.get(address);
  if (!proxy) return null;
  const cluster = proxy.cluster === null ? undefined : store.clusters.get(proxy.cluster);
  if (!cluster) {
    return {
      address,
      epoch: store.globalEpoch,
      nodes: [],
      free_nodes: [...proxy.node_addresses],
      peers: [],
      clusters_config: {},
    };
  }
  const view = clusterView(cluster, migrationLimit);
  const nodes = view.nodes.filter((n) => n.proxy_address === address);
  if (nodes.length === 0) {
    return {
      address,
      epoch: view.epoch,
      nodes: [],
      free_nodes: [...proxy.node_addresses],
      peers: [],
      clusters_config: { [cluster.name]: cluster.config },
    };
  }
  const peers: PeerProxyView[] = [];
  let current: { proxy_address: string; cluster_name: string; slots: SlotRange[] } | null = null;
  for (const node of view.nodes) {
    if (node.repl.role !== 'master' || node.proxy_address === address) continue;
    if (current === null || current.proxy_address !== node.proxy_address) {
      current = { proxy_address: node.proxy_address, cluster_name: cluster.name, slots: [] };
      peers.push(current);
    }
    current.slots.push(...node.slots);
  }
  return {
    address,
    epoch: view.epoch,
    nodes,
    free_nodes: [],
    peers,
    clusters_config: { [cluster.name]: cluster.config },
  };
}
