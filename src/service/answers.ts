/**
 * Reads answered as JSON text, shared by every backend so that the
 * in-process and threaded answers are the same bytes.
 */
import { listActiveFailures, listClusterNames, listFailedProxies, listProxyAddresses } from '../domain/query.js';
import { hostsThatCannotFail } from '../domain/resource.js';
import { storeToDocument } from '../domain/store.js';
import type { MetaStore, MutableStore } from '../domain/types.js';
import { clusterView, getProxyView } from '../domain/views.js';
import type { ClusterStore } from '../domain/types.js';
import type { QueryRequest, ReadSettings } from '../rpc/messages.js';
import type { CommandValue } from '../domain/commands.js';

const clusterBodyCache = new WeakMap<ClusterStore, Map<number, string>>();

/** `{"cluster": ...}` for one cluster record, cached per immutable record. */
function clusterBody(cluster: ClusterStore, migrationLimit: number): string {
  let byLimit = clusterBodyCache.get(cluster);
  const hit = byLimit?.get(migrationLimit);
  if (hit !== undefined) return hit;
  const body = JSON.stringify({ cluster: clusterView(cluster, migrationLimit) });
  if (!byLimit) clusterBodyCache.set(cluster, (byLimit = new Map()));
  byLimit.set(migrationLimit, body);
  return body;
}

export function answerQuery(store: MetaStore, q: QueryRequest, settings: ReadSettings): string {
  switch (q.name) {
    case 'clusterNames':
      return JSON.stringify({ names: listClusterNames(store, q) });
    case 'clusterMeta': {
      const cluster = store.clusters.get(q.cluster);
      return cluster ? clusterBody(cluster, settings.migrationLimit) : '{"cluster":null}';
    }
    case 'proxyAddresses':
      return JSON.stringify({ addresses: listProxyAddresses(store, q) });
    case 'proxyMeta':
      return JSON.stringify({ proxy: getProxyView(store, q.address, settings.migrationLimit) });
    case 'failures':
      return JSON.stringify({ addresses: listActiveFailures(store, q.now, settings.failureTtl, settings.failureQuorum) });
    case 'failedProxies':
      return JSON.stringify({ addresses: listFailedProxies(store) });
    case 'metadata':
      return JSON.stringify(storeToDocument(store));
    case 'checkResources':
      // The what-if runs through a Draft that is rolled back; the store is
      // only borrowed for the duration of this synchronous call.
      return JSON.stringify({ hosts_cannot_fail: hostsThatCannotFail(store as MutableStore, settings.migrationLimit) });
  }
}

/** The body of a successful write: empty, the nodes added, or `{"proxy": ...}`. */
export function commandBody(kind: string, value: CommandValue): string {
  if (kind === 'failover') return JSON.stringify({ proxy: value });
  if (kind === 'addNodes' || kind === 'scaleNodes') return JSON.stringify(value);
  return '';
}
