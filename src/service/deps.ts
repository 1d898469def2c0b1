/**
 * What a read's answer depends on, so the front end can keep answers until
 * one of those things changes. Kept next to answers.ts: if a view starts
 * reading more of the store, its dependencies must grow here too.
 */
import type { ChangeSet } from '../domain/store.js';
import type { MetaStore } from '../domain/types.js';
import type { ChangeSummary, QueryRequest } from '../rpc/messages.js';

/** True when the answer is a free proxy's view, whose only store-wide input is the global epoch. */
export function isEpochTemplate(store: MetaStore, q: QueryRequest): boolean {
  if (q.name !== 'proxyMeta') return false;
  const proxy = store.proxies.get(q.address);
  return proxy !== undefined && (proxy.cluster === null || !store.clusters.has(proxy.cluster));
}

export function queryDeps(store: MetaStore, q: QueryRequest): string[] | null {
  switch (q.name) {
    case 'clusterNames':
    case 'proxyAddresses':
      return ['#keys'];
    case 'clusterMeta':
      return [`c:${q.cluster}`];
    case 'proxyMeta': {
      const proxy = store.proxies.get(q.address);
      if (!proxy) return [`p:${q.address}`];
      // A free proxy's view carries the global epoch; a member's, its cluster's.
      if (proxy.cluster === null) return [`p:${q.address}`, '#epoch'];
      return [`p:${q.address}`, `c:${proxy.cluster}`, ...(store.clusters.has(proxy.cluster) ? [] : ['#epoch'])];
    }
    case 'failures':
      return ['#failures', '#keys'];
    case 'failedProxies':
      return ['#failed'];
    case 'metadata':
      return ['#any'];
    case 'checkResources':
      return null;
  }
}

export function summarizeChanges(generation: number, globalEpoch: number, revision: number, changes: ChangeSet, full: boolean): ChangeSummary {
  return {
    generation,
    globalEpoch,
    revision,
    clusters: [...changes.clusters],
    proxies: [...changes.proxies],
    failures: changes.failures.size > 0,
    failed: changes.failedProxies,
    epoch: changes.epoch,
    keys: full || changes.keys,
    full,
  };
}
