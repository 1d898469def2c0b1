/**
 * Derived data that makes allocation independent of fleet size: free,
 * healthy proxies per host (sorted) and the chunk link counts between hosts.
 * Built once per store on first use, then kept current by the Draft on
 * every write and every rollback, so a command never rescans the fleet.
 */
import { compareBytes } from './names.js';
import type { ClusterStore, MetaStore } from './types.js';

function insertSorted(list: string[], value: string): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareBytes(list[mid]!, value) < 0) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, value);
}

function removeSorted(list: string[], value: string): void {
  const at = list.indexOf(value);
  if (at >= 0) list.splice(at, 1);
}

export class AllocationIndex {
  /** host => free, healthy proxy addresses in ascending byte order */
  readonly freeByHost = new Map<string, string[]>();
  /** Hosts that have free proxies, in ascending byte order, so scans break ties by position. */
  readonly hosts: string[] = [];
  /** address => host it is listed under, for free proxies only */
  private readonly listedHost = new Map<string, string>();
  private readonly links = new Map<string, Map<string, number>>();

  constructor(private readonly store: MetaStore) {
    for (const proxy of store.proxies.values()) this.proxyTouched(proxy.proxy_address);
    for (const cluster of store.clusters.values()) this.clusterReplaced(undefined, cluster);
  }

  /** Re-evaluates whether the proxy at `address` is free and healthy. */
  proxyTouched(address: string): void {
    const proxy = this.store.proxies.get(address);
    const free =
      proxy !== undefined &&
      proxy.cluster === null &&
      !this.store.failedProxies.has(address) &&
      !this.store.failures.has(address);
    const listed = this.listedHost.get(address);
    if (listed !== undefined && (!free || listed !== proxy.host)) {
      const list = this.freeByHost.get(listed)!;
      removeSorted(list, address);
      if (list.length === 0) {
        this.freeByHost.delete(listed);
        removeSorted(this.hosts, listed);
      }
      this.listedHost.delete(address);
    }
    if (free && !this.listedHost.has(address)) {
      let list = this.freeByHost.get(proxy.host);
      if (!list) {
        this.freeByHost.set(proxy.host, (list = []));
        insertSorted(this.hosts, proxy.host);
      }
      insertSorted(list, address);
      this.listedHost.set(address, proxy.host);
    }
  }

  clusterReplaced(before: ClusterStore | undefined, after: ClusterStore | undefined): void {
    if (before) for (const chunk of before.chunks) this.link(chunk.hosts[0], chunk.hosts[1], -1);
    if (after) for (const chunk of after.chunks) this.link(chunk.hosts[0], chunk.hosts[1], 1);
  }

  /** Chunks linking two hosts, over every cluster. */
  linkCount(a: string, b: string): number {
    return this.links.get(a)?.get(b) ?? 0;
  }

  /** host => chunks linking it to `host`; absent hosts have none. */
  linkRow(host: string): ReadonlyMap<string, number> | undefined {
    return this.links.get(host);
  }

  private link(a: string, b: string, delta: number): void {
    this.bump(a, b, delta);
    this.bump(b, a, delta);
  }

  private bump(a: string, b: string, delta: number): void {
    let row = this.links.get(a);
    if (!row) this.links.set(a, (row = new Map<string, number>()));
    const n = (row.get(b) ?? 0) + delta;
    if (n === 0) row.delete(b);
    else row.set(b, n);
  }
}

const indexes = new WeakMap<MetaStore, AllocationIndex>();

/** The store's index, built on first use. */
export function allocationIndex(store: MetaStore): AllocationIndex {
  let index = indexes.get(store);
  if (!index) indexes.set(store, (index = new AllocationIndex(store)));
  return index;
}

/** The index if one was built; writers keep an existing index current. */
export function existingIndex(store: MetaStore): AllocationIndex | undefined {
  return indexes.get(store);
}

/** Forgets the index, for writers that replace data wholesale. */
export function dropIndex(store: MetaStore): void {
  indexes.delete(store);
}
