/** Failover: master takeover inside the chunk, then replacement of the failed proxy. */
import { freePool } from '../allocate.js';
import { findProxyInChunks } from '../chunks.js';
import { BrokerError, PartialFailure } from '../errors.js';
import type { Draft } from '../store.js';
import type { ChunkStore, ClusterStore, MigrationSlotRangeStore, ProxyView } from '../types.js';
import { getProxyView, partNodeIndex } from '../views.js';

export interface Failover {
  readonly kind: 'failover';
  readonly address: string;
}

/**
 * The chunk peer of the failed proxy takes over mastership. The migrations
 * of the failed side's part, and every migration sharing a source or
 * destination part with them, restart under the new epoch. When the
 * surviving side already masters the chunk nothing is reset: coordinators
 * repeat failover every second and must not restart migrations each time.
 */
function takeOver(draft: Draft, cluster: ClusterStore, chunkIndex: number, side: 0 | 1): ClusterStore {
  const epoch = draft.bumpEpoch();
  const chunk = cluster.chunks[chunkIndex]!;
  const takeoverRole = side === 0 ? 'SecondChunkMaster' : 'FirstChunkMaster';
  if (chunk.role_position === takeoverRole) return cluster;

  // Every part whose serving node moves restarts its migrations: the failed
  // side's part always, and the other part too when the chunk was mastered
  // by the side that just failed (a second failure in the same chunk).
  const positions = new Set<string>();
  for (const part of [0, 1] as const) {
    if (part !== side && partNodeIndex(part, chunk.role_position) === partNodeIndex(part, takeoverRole)) continue;
    for (const m of chunk.migrating_slots[part]) {
      positions.add(`${m.meta.src_chunk_index}:${m.meta.src_chunk_part}`);
      positions.add(`${m.meta.dst_chunk_index}:${m.meta.dst_chunk_part}`);
    }
  }
  const restart = (m: MigrationSlotRangeStore): MigrationSlotRangeStore =>
    positions.has(`${m.meta.src_chunk_index}:${m.meta.src_chunk_part}`) ||
    positions.has(`${m.meta.dst_chunk_index}:${m.meta.dst_chunk_part}`)
      ? { ...m, meta: { ...m.meta, epoch } }
      : m;
  const chunks = cluster.chunks.map((c, i): ChunkStore => {
    const migrating: ChunkStore['migrating_slots'] =
      positions.size === 0 ? c.migrating_slots : [c.migrating_slots[0].map(restart), c.migrating_slots[1].map(restart)];
    return i === chunkIndex
      ? { ...c, role_position: takeoverRole, migrating_slots: migrating }
      : { ...c, migrating_slots: migrating };
  });
  const next = { ...cluster, epoch, chunks };
  draft.setCluster(next);
  return next;
}

/**
 * The replacement for a failed proxy: a free, healthy proxy from the host
 * with the fewest chunk links to the failed host, then the most free
 * proxies, then the smallest name; never from the failed host or the
 * surviving proxy's host. On that host, the smallest address.
 */
function pickReplacement(draft: Draft, failedHost: string, survivingHost: string): string | null {
  const pool = freePool(draft);
  const host = pool.leastLinked(failedHost, survivingHost);
  return host < 0 ? null : pool.peek(host);
}

/**
 * Fails a proxy. A free proxy just joins failed_proxies (answer null). A
 * proxy in a cluster is taken over by its chunk peer, joins
 * failed_proxies, and is replaced in its chunk; the answer is the
 * replacement's view. Without a replacement the takeover stands and the
 * answer is NO_AVAILABLE_RESOURCE.
 */
export function applyFailover(draft: Draft, cmd: Failover, migrationLimit: number): ProxyView | null {
  const proxy = draft.proxy(cmd.address);
  if (!proxy) throw new BrokerError('PROXY_NOT_FOUND');
  if (proxy.cluster === null) {
    draft.clearFailures(cmd.address);
    draft.addFailedProxy(cmd.address);
    draft.bumpEpoch();
    return null;
  }
  let cluster = draft.cluster(proxy.cluster);
  if (!cluster) throw new BrokerError('CLUSTER_NOT_FOUND');
  const place = findProxyInChunks(cluster, cmd.address);
  if (!place) throw new BrokerError('PROXY_NOT_FOUND', 'the proxy is not in any chunk of its cluster');

  cluster = takeOver(draft, cluster, place.chunk, place.side);
  draft.addFailedProxy(cmd.address);

  const chunk = cluster.chunks[place.chunk]!;
  const survivingHost = chunk.hosts[place.side === 0 ? 1 : 0];
  const replacementAddress = pickReplacement(draft, proxy.host, survivingHost);
  if (replacementAddress === null) throw new PartialFailure('NO_AVAILABLE_RESOURCE');
  const replacement = draft.proxy(replacementAddress)!;

  const epoch = draft.bumpEpoch();
  const side = place.side;
  const nodes = [...chunk.node_addresses] as [string, string, string, string];
  nodes[side * 2] = replacement.node_addresses[0];
  nodes[side * 2 + 1] = replacement.node_addresses[1];
  const replaced: ChunkStore = {
    ...chunk,
    hosts: side === 0 ? [replacement.host, chunk.hosts[1]] : [chunk.hosts[0], replacement.host],
    proxy_addresses:
      side === 0
        ? [replacement.proxy_address, chunk.proxy_addresses[1]]
        : [chunk.proxy_addresses[0], replacement.proxy_address],
    node_addresses: nodes,
  };
  draft.setCluster({ ...cluster, epoch, chunks: cluster.chunks.map((c, i) => (i === place.chunk ? replaced : c)) });
  draft.assignProxy(cmd.address, null);
  draft.assignProxy(replacement.proxy_address, cluster.name);
  return getProxyView(draft.store, replacement.proxy_address, migrationLimit);
}
