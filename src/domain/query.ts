/** Read-only queries over a store. None of them changes anything. */
import { compareBytes } from './names.js';
import type { MetaStore } from './types.js';

const sortedKeysCache = new WeakMap<
  ReadonlyMap<string, unknown>,
  { readonly revision: number; readonly keys: readonly string[] }
>();

/** Keys in ascending byte order, cached per map until keys are added or removed. */
export function sortedKeys(map: ReadonlyMap<string, unknown>, keysRevision: number): readonly string[] {
  const cached = sortedKeysCache.get(map);
  if (cached && cached.revision === keysRevision) return cached.keys;
  const keys = [...map.keys()].sort(compareBytes);
  sortedKeysCache.set(map, { revision: keysRevision, keys });
  return keys;
}

export interface Page {
  readonly offset?: number | undefined;
  readonly limit?: number | undefined;
}

function paginate(keys: readonly string[], page: Page): string[] {
  const offset = page.offset ?? 0;
  const end = page.limit === undefined ? keys.length : offset + page.limit;
  return keys.slice(offset, end);
}

export function listClusterNames(store: MetaStore, page: Page = {}): string[] {
  return paginate(sortedKeys(store.clusters, store.keysRevision), page);
}

export function listProxyAddresses(store: MetaStore, page: Page = {}): string[] {
  return paginate(sortedKeys(store.proxies, store.keysRevision), page);
}

export function listFailedProxies(store: MetaStore): string[] {
  return [...store.failedProxies].sort(compareBytes);
}

/** A report counts while `now - reportedAt < ttl`. */
export function isReportAlive(reportedAt: number, now: number, ttlSeconds: number): boolean {
  return now - reportedAt < ttlSeconds;
}

/**
 * Known proxies with at least `quorum` live reports. Expired reports are
 * ignored here and pruned by a separate command, so reads never write.
 */
export function listActiveFailures(store: MetaStore, now: number, ttlSeconds: number, quorum: number): string[] {
  const out: string[] = [];
  for (const [address, reports] of store.failures) {
    if (!store.proxies.has(address)) continue;
    let alive = 0;
    for (const at of reports.values()) if (isReportAlive(at, now, ttlSeconds)) alive += 1;
    if (alive >= quorum && alive > 0) out.push(address);
  }
  return out.sort(compareBytes);
}
