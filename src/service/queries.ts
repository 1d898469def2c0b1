/**
 * Every read, defined in one place: how it is answered (JSON text, the same
 * bytes whichever thread computes it), what the answer depends on (so the
 * front end can keep it until one of those things changes), and the key the
 * front end caches it under. A new read is one entry here.
 */
import { listActiveFailures, listClusterNames, listFailedProxies, listProxyAddresses } from '../domain/query.js';
import { hostsThatCannotFail } from '../domain/resource.js';
import { storeToDocument } from '../domain/store.js';
import type { ClusterStore, MetaStore, MutableStore } from '../domain/types.js';
import { clusterView, getProxyView } from '../domain/views.js';
import type { QueryName, QueryRequest, ReadSettings } from '../rpc/messages.js';

/**
 * Cache dependencies: 'c:<cluster>', 'p:<proxy>', and '#epoch' (the global
 * epoch), '#keys' (a cluster or proxy added or removed), '#failures',
 * '#failed', '#any'. Null: never cache.
 */
export type Deps = readonly string[] | null;

interface QueryDef<Q extends QueryRequest> {
  answer(store: MetaStore, q: Q, settings: ReadSettings): string;
  deps(store: MetaStore, q: Q): Deps;
  /** The front end's cache key; null: never cached. */
  cacheKey(q: Q): string | null;
  /**
   * The answer differs from the same answer at another global epoch only
   * in its `"epoch"` field (a free proxy's view): it may be re-stamped
   * instead of recomputed.
   */
  epochTemplate?(store: MetaStore, q: Q): boolean;
}

type Registry = { readonly [N in QueryName]: QueryDef<Extract<QueryRequest, { name: N }>> };

const clusterBodyCache = new WeakMap<ClusterStore, Map<number, string>>();

/** `{"cluster": ...}` for one cluster record, cached per immutable record. */
function clusterBody(cluster: ClusterStore, migrationLimit: number): string {
  let byLimit = clusterBodyCache.get(cluster);
  const hit = byLimit?.get(migrationLimit);
  if (hit !== undefined) return hit;
  const body = JSON.stringify({ cluster: clusterView(cluster, migrationLimit) });
  if (!byLimit) clusterBodyCache.set(cluster, (byLimit = new Map<number, string>()));
  byLimit.set(migrationLimit, body);
  return body;
}

const KEYS: Deps = ['#keys'];

export const QUERIES: Registry = {
  clusterNames: {
    answer: (store, q) => JSON.stringify({ names: listClusterNames(store, q) }),
    deps: () => KEYS,
    cacheKey: (q) => `clusterNames ${q.offset ?? ''} ${q.limit ?? ''}`,
  },
  clusterMeta: {
    answer: (store, q, settings) => {
      const cluster = store.clusters.get(q.cluster);
      return cluster ? clusterBody(cluster, settings.migrationLimit) : '{"cluster":null}';
    },
    deps: (_store, q) => [`c:${q.cluster}`],
    cacheKey: (q) => `c ${q.cluster}`,
  },
  proxyAddresses: {
    answer: (store, q) => JSON.stringify({ addresses: listProxyAddresses(store, q) }),
    deps: () => KEYS,
    cacheKey: (q) => `proxyAddresses ${q.offset ?? ''} ${q.limit ?? ''}`,
  },
  proxyMeta: {
    answer: (store, q, settings) => JSON.stringify({ proxy: getProxyView(store, q.address, settings.migrationLimit) }),
    deps: (store, q) => {
      const proxy = store.proxies.get(q.address);
      if (!proxy) return [`p:${q.address}`];
      // A free proxy's view carries the global epoch; a member's, its cluster's.
      if (proxy.cluster === null) return [`p:${q.address}`, '#epoch'];
      return [`p:${q.address}`, `c:${proxy.cluster}`, ...(store.clusters.has(proxy.cluster) ? [] : ['#epoch'])];
    },
    cacheKey: (q) => `p ${q.address}`,
    epochTemplate: (store, q) => {
      const proxy = store.proxies.get(q.address);
      return proxy !== undefined && (proxy.cluster === null || !store.clusters.has(proxy.cluster));
    },
  },
  failures: {
    answer: (store, q, settings) =>
      JSON.stringify({ addresses: listActiveFailures(store, q.now, settings.failureTtl, settings.failureQuorum) }),
    deps: () => ['#failures', '#keys'],
    // Keyed by the second: expiry changes the answer even when nothing else does.
    cacheKey: (q) => `failures ${q.now}`,
  },
  failedProxies: {
    answer: (store) => JSON.stringify({ addresses: listFailedProxies(store) }),
    deps: () => ['#failed'],
    cacheKey: () => 'failedProxies',
  },
  metadata: {
    answer: (store) => JSON.stringify(storeToDocument(store)),
    deps: () => ['#any'],
    cacheKey: () => 'metadata',
  },
  checkResources: {
    // The what-if runs through a Draft that is rolled back; the store is
    // only borrowed for the duration of this synchronous call.
    answer: (store, _q, settings) =>
      JSON.stringify({ hosts_cannot_fail: hostsThatCannotFail(store as MutableStore, settings.migrationLimit) }),
    deps: () => null,
    cacheKey: () => null,
  },
};

function def(q: QueryRequest): QueryDef<QueryRequest> {
  return QUERIES[q.name];
}

export function answerQuery(store: MetaStore, q: QueryRequest, settings: ReadSettings): string {
  return def(q).answer(store, q, settings);
}

export function queryDeps(store: MetaStore, q: QueryRequest): Deps {
  return def(q).deps(store, q);
}

export function queryCacheKey(q: QueryRequest): string | null {
  return def(q).cacheKey(q);
}

export function isEpochTemplate(store: MetaStore, q: QueryRequest): boolean {
  return def(q).epochTemplate?.(store, q) ?? false;
}
