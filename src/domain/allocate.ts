/**
 * Chunk allocation (SPEC section 6, seed chunk_allocation.txt): pair free
 * proxies on different hosts so that masters and, after a failover, the
 * promoted replicas spread evenly over hosts.
 *
 * Unlike the reference, the link table is built from chunks only (hosts
 * with no chunk between them have zero links implicitly), so the cost is
 * linear in proxies plus chunks instead of quadratic in proxies. Ties are
 * broken by host name, then proxy address, so allocation is deterministic.
 */
import { BrokerError } from './errors.js';
import { compareBytes } from './names.js';
import type { Draft } from './store.js';
import type { ProxyResource } from './types.js';

/** host => free, healthy proxy addresses, sorted descending so pop() yields the smallest. */
export type FreePool = Map<string, string[]>;

export function freeProxiesByHost(draft: Draft): FreePool {
  const pool: FreePool = new Map();
  for (const proxy of draft.store.proxies.values()) {
    if (proxy.cluster !== null || draft.isUnhealthy(proxy.proxy_address)) continue;
    let list = pool.get(proxy.host);
    if (!list) pool.set(proxy.host, (list = []));
    list.push(proxy.proxy_address);
  }
  for (const list of pool.values()) list.sort((a, b) => compareBytes(b, a));
  return pool;
}

/** Symmetric count of chunks linking two hosts, over every cluster. */
export class LinkTable {
  private readonly links = new Map<string, Map<string, number>>();

  static fromDraft(draft: Draft): LinkTable {
    const table = new LinkTable();
    for (const cluster of draft.store.clusters.values()) {
      for (const chunk of cluster.chunks) table.add(chunk.hosts[0], chunk.hosts[1]);
    }
    return table;
  }

  get(a: string, b: string): number {
    return this.links.get(a)?.get(b) ?? 0;
  }

  add(a: string, b: string): void {
    this.bump(a, b);
    this.bump(b, a);
  }

  private bump(a: string, b: string): void {
    let row = this.links.get(a);
    if (!row) this.links.set(a, (row = new Map()));
    row.set(b, (row.get(b) ?? 0) + 1);
  }
}

function totalFree(pool: FreePool): number {
  let n = 0;
  for (const list of pool.values()) n += list.length;
  return n;
}

/** The host with the most free proxies; ties to the smallest name. */
function fullestHost(pool: FreePool): string | null {
  let best: string | null = null;
  let bestCount = 0;
  for (const [host, list] of pool) {
    const n = list.length;
    if (n > bestCount || (n === bestCount && n > 0 && best !== null && compareBytes(host, best) < 0)) {
      best = host;
      bestCount = n;
    }
  }
  return best;
}

/**
 * Among hosts other than `from` (and `exclude`) with free proxies: the one
 * with the fewest links to `from`, then the most free proxies, then the
 * smallest name.
 */
export function leastLinkedHost(pool: FreePool, links: LinkTable, from: string, exclude?: string): string | null {
  let best: string | null = null;
  let bestLinks = 0;
  let bestFree = 0;
  for (const [host, list] of pool) {
    if (host === from || host === exclude || list.length === 0) continue;
    const l = links.get(from, host);
    const f = list.length;
    if (
      best === null ||
      l < bestLinks ||
      (l === bestLinks && (f > bestFree || (f === bestFree && compareBytes(host, best) < 0)))
    ) {
      best = host;
      bestLinks = l;
      bestFree = f;
    }
  }
  return best;
}

/**
 * Drops proxies from the fullest host until no host holds more than half
 * of the free proxies, as the reference does before pairing.
 */
function trimFullestHost(pool: FreePool): void {
  const host = fullestHost(pool);
  if (host === null) return;
  const list = pool.get(host)!;
  let free = totalFree(pool);
  while (list.length * 2 > free) {
    list.shift(); // the largest address goes first; pop() hands out the smallest
    free -= 1;
  }
}

/**
 * Picks `proxyNum` free proxies (an even number) as chunk pairs on
 * different hosts. Throws NO_AVAILABLE_RESOURCE or RESOURCE_NOT_BALANCE.
 */
export function allocateChunks(draft: Draft, proxyNum: number): [ProxyResource, ProxyResource][] {
  const pool = freeProxiesByHost(draft);
  trimFullestHost(pool);
  const free = totalFree(pool);
  if (free < proxyNum) throw new BrokerError('NO_AVAILABLE_RESOURCE');
  let maxOnHost = 0;
  for (const list of pool.values()) maxOnHost = Math.max(maxOnHost, list.length);
  if (maxOnHost * 2 > free) throw new BrokerError('RESOURCE_NOT_BALANCE');

  const links = LinkTable.fromDraft(draft);
  const pairs: [ProxyResource, ProxyResource][] = [];
  while (pairs.length * 2 < proxyNum) {
    const firstHost = fullestHost(pool);
    if (firstHost === null) throw new BrokerError('NO_AVAILABLE_RESOURCE');
    const first = pool.get(firstHost)!.pop()!;
    const secondHost = leastLinkedHost(pool, links, firstHost);
    if (secondHost === null) throw new BrokerError('RESOURCE_NOT_BALANCE');
    const second = pool.get(secondHost)!.pop()!;
    links.add(firstHost, secondHost);
    pairs.push([draft.proxy(first)!, draft.proxy(second)!]);
  }
  return pairs;
}
