/**
 * What-if check: for each host, could the failover of all its proxies be
 * absorbed by the free proxies? Runs failover on the live store through a
 * Draft and rolls it back, so nothing is copied and nothing changes.
 */
import { applyFailover } from './commands/failover.js';
import { BrokerError } from './errors.js';
import { compareBytes } from './names.js';
import { Draft } from './store.js';
import type { MutableStore } from './types.js';

export function hostsThatCannotFail(store: MutableStore, migrationLimit: number): string[] {
  const byHost = new Map<string, string[]>();
  for (const proxy of store.proxies.values()) {
    let list = byHost.get(proxy.host);
    if (!list) byHost.set(proxy.host, (list = []));
    list.push(proxy.proxy_address);
  }
  const hosts = [...byHost.keys()].sort(compareBytes);
  const cannotFail: string[] = [];
  for (const host of hosts) {
    const draft = new Draft(store);
    try {
      for (const address of byHost.get(host)!.sort(compareBytes))
        applyFailover(draft, { kind: 'failover', address }, migrationLimit);
    } catch (err) {
      if (!(err instanceof BrokerError) || err.code !== 'NO_AVAILABLE_RESOURCE') {
        draft.rollback();
        throw err;
      }
      cannotFail.push(host);
    }
    draft.rollback();
  }
  return cannotFail;
}
