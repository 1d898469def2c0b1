/**
 * Consistency of a store: what must hold after every command and what a
 * restored document must satisfy. Returns the problems found, first first;
 * logging or refusing is the caller's business. Linear in the store's size
 * (a restored document can be hundreds of megabytes), and it stops listing
 * after MAX_PROBLEMS.
 */
import { SLOT_NUM } from './constants.js';
import { isPathSafeName, isValidClusterName, isValidProxyAddress, nameProblem, shownName } from './names.js';
import type { ClusterStore, MetaStore, MigrationSlotRangeStore, SlotRange } from './types.js';

/** Problems listed at most: enough to fix a document, bounded for a hostile one. */
export const MAX_PROBLEMS = 100;

/** A list that ignores pushes beyond MAX_PROBLEMS. */
class Problems extends Array<string> {
  override push(...items: string[]): number {
    for (const item of items) if (this.length < MAX_PROBLEMS) super.push(item);
    return this.length;
  }

  get full(): boolean {
    return this.length >= MAX_PROBLEMS;
  }
}

/** Identifies a migration entry; its peer on the other side has the same key but for the flag. */
function migrationKey(m: MigrationSlotRangeStore, migrating: boolean): string {
  const { epoch, src_chunk_index, src_chunk_part, dst_chunk_index, dst_chunk_part } = m.meta;
  const ranges = m.range_list.map((r) => `${r[0]}-${r[1]}`).join(',');
  return `${migrating ? 'm' : 'i'} ${epoch} ${src_chunk_index}.${src_chunk_part} ${dst_chunk_index}.${dst_chunk_part} ${ranges}`;
}

function checkClusterSlots(cluster: ClusterStore, problems: Problems): void {
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
  // Every migration entry by key, per chunk part: finding a peer is one lookup, not a scan of the part.
  const entries = new Set<string>();
  cluster.chunks.forEach((chunk, ci) => {
    for (let part = 0; part < 2; part++) {
      for (const m of chunk.migrating_slots[part]!) entries.add(`${ci}.${part} ${migrationKey(m, m.is_migrating)}`);
    }
  });
  cluster.chunks.forEach((chunk, ci) => {
    if (problems.full) return;
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
        const peerPart = m.is_migrating ? `${di}.${dp}` : `${si}.${sp}`;
        if (!entries.has(`${peerPart} ${migrationKey(m, !m.is_migrating)}`)) {
          problems.push(
            `cluster ${name}: chunk ${ci} part ${part} has a migration without its ${m.is_migrating ? 'importing' : 'migrating'} side`,
          );
        }
        if (m.is_migrating) claim(m.range_list, `chunk ${ci} part ${part} migrating slots`);
      }
    }
  });
  const missing = owner.indexOf(0);
  if (missing >= 0) problems.push(`cluster ${name}: slot ${missing} has no owner`);
}

function checkTagAddresses(range: SlotRange | null, where: string, problems: Problems): void {
  if (range === null || range.tag === 'None') return;
  const meta = 'Migrating' in range.tag ? range.tag.Migrating : range.tag.Importing;
  for (const field of ['src_proxy_address', 'src_node_address', 'dst_proxy_address', 'dst_node_address'] as const) {
    if (!isPathSafeName(meta[field])) problems.push(`${where}: ${nameProblem(field, meta[field])}`);
  }
}

/** Every address, host and reporter is one the API can carry back in a path (src/domain/names.ts). */
function checkNames(store: MetaStore, problems: Problems): void {
  for (const [key, cluster] of store.clusters) {
    if (problems.full) return;
    if (!isValidClusterName(key)) problems.push(`cluster ${shownName(key)}: invalid cluster name`);
    else if (cluster.name !== key) problems.push(`cluster ${key}: its record names ${shownName(cluster.name)}`);
    cluster.chunks.forEach((chunk, ci) => {
      const where = `cluster ${key} chunk ${ci}`;
      chunk.proxy_addresses.forEach(
        (a, i) => !isPathSafeName(a) && problems.push(`${where}: ${nameProblem(`proxy_addresses[${i}]`, a)}`),
      );
      chunk.node_addresses.forEach(
        (a, i) => !isPathSafeName(a) && problems.push(`${where}: ${nameProblem(`node_addresses[${i}]`, a)}`),
      );
      chunk.hosts.forEach((h, i) => !isPathSafeName(h) && problems.push(`${where}: ${nameProblem(`hosts[${i}]`, h)}`));
      checkTagAddresses(chunk.stable_slots[0], where, problems);
      checkTagAddresses(chunk.stable_slots[1], where, problems);
    });
  }
  for (const [address, proxy] of store.proxies) {
    if (proxy.cluster !== null && !isValidClusterName(proxy.cluster)) {
      problems.push(`proxy ${shownName(address)}: cluster ${shownName(proxy.cluster)} is not a valid cluster name`);
    }
    if (problems.full) return;
  }
  for (const [address, proxy] of store.proxies) {
    if (problems.full) return;
    if (!isValidProxyAddress(address))
      problems.push(`all_proxies: ${nameProblem('proxy address', address)} and be host:port`);
    proxy.node_addresses.forEach((node, i) => {
      if (!isPathSafeName(node)) problems.push(`proxy ${address}: ${nameProblem(`node_addresses[${i}]`, node)}`);
    });
    if (!isPathSafeName(proxy.host)) problems.push(`proxy ${address}: ${nameProblem('host', proxy.host)}`);
  }
  for (const address of store.failedProxies) {
    if (problems.full) return;
    if (!isValidProxyAddress(address))
      problems.push(`failed_proxies: ${nameProblem('address', address)} and be host:port`);
  }
  for (const [address, reports] of store.failures) {
    if (problems.full) return;
    if (!isValidProxyAddress(address)) problems.push(`failures: ${nameProblem('address', address)} and be host:port`);
    for (const reporter of reports.keys()) {
      if (!isPathSafeName(reporter)) {
        problems.push(`failures of ${address}: ${nameProblem('reporter', reporter)}`);
        break;
      }
    }
  }
}

export function checkMetadata(store: MetaStore): string[] {
  const problems = new Problems();
  // Names first: the other messages quote them, and a name may be megabytes long.
  checkNames(store, problems);
  if (problems.length > 0) return [...problems];
  // Forced epochs stop at MAX_EPOCH; the changes after one go past it, and the
  // broker must still restore its own document. Only inexact numbers are refused.
  if (!Number.isSafeInteger(store.globalEpoch))
    problems.push(`global_epoch ${store.globalEpoch} is not an exact integer`);
  for (const [address, proxy] of store.proxies) {
    if (proxy.proxy_address !== address)
      problems.push(`proxy ${address}: its record names ${shownName(proxy.proxy_address)}`);
  }
  const chunkOf = new Map<string, string>();
  for (const [key, cluster] of store.clusters) {
    if (cluster.epoch > store.globalEpoch)
      problems.push(`cluster ${key}: epoch ${cluster.epoch} is beyond global_epoch ${store.globalEpoch}`);
    if (problems.full) break;
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
        if (proxy.host !== chunk.hosts[side])
          problems.push(`${where}: host of ${address} is ${proxy.host}, the chunk says ${chunk.hosts[side]}`);
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
    if (!store.clusters.has(proxy.cluster))
      problems.push(`proxy ${address}: its cluster ${proxy.cluster} does not exist`);
    else if (!chunkOf.has(address)) problems.push(`proxy ${address}: not in any chunk of cluster ${proxy.cluster}`);
    if (problems.full) break;
  }
  return [...problems];
}
