/**
 * Chunk allocation (docs/api.md#allocation): pair free proxies on different
 * hosts so that masters and, after a failover, the promoted replicas spread
 * evenly over hosts.
 *
 * The reference rebuilds a host link table from every pair of proxies on
 * each allocation. Here the free proxies per host and the link counts come
 * from an index kept current by every write (alloc-index.ts), so one
 * allocation costs O(hosts) per chunk, whatever the number of proxies.
 * Ties are broken by host name, then proxy address: allocation is
 * deterministic.
 */
import { allocationIndex } from './alloc-index.js';
import type { AllocationIndex } from './alloc-index.js';
import { BrokerError } from './errors.js';
import type { Draft } from './store.js';
import type { ProxyResource } from './types.js';

/**
 * A working view of the free proxies: each host's sorted list from the
 * index, minus those taken from its front or trimmed from its back. Hosts
 * are held in name order, so every scan breaks ties by keeping the first
 * candidate. The index itself is never changed.
 */
export class FreePool {
  readonly hosts: readonly string[];
  private readonly lists: (readonly string[])[];
  private readonly taken: Int32Array;
  private readonly trimmed: Int32Array;

  constructor(readonly index: AllocationIndex) {
    this.hosts = index.hosts;
    this.lists = index.hosts.map((h) => index.freeByHost.get(h)!);
    this.taken = new Int32Array(this.hosts.length);
    this.trimmed = new Int32Array(this.hosts.length);
  }

  count(i: number): number {
    return this.lists[i]!.length - this.taken[i]! - this.trimmed[i]!;
  }

  total(): number {
    let n = 0;
    for (let i = 0; i < this.hosts.length; i++) n += this.count(i);
    return n;
  }

  /** The smallest free address on host i, without taking it. */
  peek(i: number): string {
    return this.lists[i]![this.taken[i]!]!;
  }

  take(i: number): string {
    const address = this.peek(i);
    this.taken[i]! += 1;
    return address;
  }

  /** Drops the largest free address of host i from consideration. */
  trim(i: number): void {
    this.trimmed[i]! += 1;
  }

  /** The host with the most free proxies (first by name on ties), or -1. */
  fullest(): number {
    let best = -1;
    let bestCount = 0;
    for (let i = 0; i < this.hosts.length; i++) {
      const n = this.count(i);
      if (n > bestCount) {
        best = i;
        bestCount = n;
      }
    }
    return best;
  }

  /**
   * Among hosts other than `from` and `exclude` with free proxies: the one
   * with the fewest chunk links to `from`, then the most free proxies, then
   * the first by name; -1 if none.
   */
  leastLinked(from: string, exclude?: string, extraLinks?: ReadonlyMap<string, number>): number {
    const row = this.index.linkRow(from);
    let best = -1;
    let bestLinks = 0;
    let bestFree = 0;
    for (let i = 0; i < this.hosts.length; i++) {
      const f = this.count(i);
      if (f === 0) continue;
      const host = this.hosts[i]!;
      if (host === from || host === exclude) continue;
      const l = (row?.get(host) ?? 0) + (extraLinks?.get(host) ?? 0);
      if (best === -1 || l < bestLinks || (l === bestLinks && f > bestFree)) {
        best = i;
        bestLinks = l;
        bestFree = f;
      }
    }
    return best;
  }
}

export function freePool(draft: Draft): FreePool {
  return new FreePool(allocationIndex(draft.store));
}

/**
 * Picks `proxyNum` free proxies (an even number) as chunk pairs on
 * different hosts. As the reference does, it first drops proxies from the
 * fullest host until no host holds more than half of the free proxies.
 * Throws NO_AVAILABLE_RESOURCE or RESOURCE_NOT_BALANCE.
 */
export function allocateChunks(draft: Draft, proxyNum: number): [ProxyResource, ProxyResource][] {
  const pool = freePool(draft);
  let free = pool.total();
  const fullest = pool.fullest();
  if (fullest >= 0) {
    while (pool.count(fullest) * 2 > free) {
      pool.trim(fullest);
      free -= 1;
    }
  }
  if (free < proxyNum) throw new BrokerError('NO_AVAILABLE_RESOURCE');
  const after = pool.fullest();
  if (after >= 0 && pool.count(after) * 2 > free) throw new BrokerError('RESOURCE_NOT_BALANCE');

  // Links made by this allocation, on top of the index's counts: host => (host => n).
  const added = new Map<string, Map<string, number>>();
  const addLink = (a: string, b: string) => {
    let row = added.get(a);
    if (!row) added.set(a, (row = new Map<string, number>()));
    row.set(b, (row.get(b) ?? 0) + 1);
  };
  const pairs: [ProxyResource, ProxyResource][] = [];
  while (pairs.length * 2 < proxyNum) {
    const first = pool.fullest();
    if (first < 0) throw new BrokerError('NO_AVAILABLE_RESOURCE');
    const firstHost = pool.hosts[first]!;
    const firstAddress = pool.take(first);
    const second = pool.leastLinked(firstHost, undefined, added.get(firstHost));
    if (second < 0) throw new BrokerError('RESOURCE_NOT_BALANCE');
    const secondHost = pool.hosts[second]!;
    const secondAddress = pool.take(second);
    addLink(firstHost, secondHost);
    addLink(secondHost, firstHost);
    pairs.push([draft.proxy(firstAddress)!, draft.proxy(secondAddress)!]);
  }
  return pairs;
}
