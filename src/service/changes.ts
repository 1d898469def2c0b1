/** What one generation changed, in the terms of the front end's cache dependencies (queries.ts). */
import type { ChangeSet } from '../domain/store.js';
import type { ChangeSummary } from '../rpc/messages.js';

export function summarizeChanges(
  generation: number,
  globalEpoch: number,
  revision: number,
  changes: ChangeSet,
  full: boolean,
): ChangeSummary {
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
