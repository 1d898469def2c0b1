/** Proxy registration, removal and failure reports. */
import { BrokerError, PartialFailure } from '../errors.js';
import { proxyAddressHost } from '../names.js';
import { isReportAlive } from '../query.js';
import type { Draft } from '../store.js';

export interface AddProxy {
  readonly kind: 'addProxy';
  readonly proxy_address: string;
  readonly nodes: readonly [string, string];
  readonly host: string | null;
}

/**
 * Registers a free proxy. Re-adding a known proxy marks it recovered (it
 * leaves failed_proxies and its reports are dropped) and answers
 * ALREADY_EXISTED with that change kept.
 */
export function applyAddProxy(draft: Draft, cmd: AddProxy): void {
  const addressHost = proxyAddressHost(cmd.proxy_address);
  if (addressHost === null) throw new BrokerError('INVALID_PROXY_ADDRESS');
  draft.bumpEpoch();
  const exists = draft.proxy(cmd.proxy_address) !== undefined;
  if (!exists) {
    draft.setProxy({
      proxy_address: cmd.proxy_address,
      node_addresses: [cmd.nodes[0], cmd.nodes[1]],
      host: cmd.host ?? addressHost,
      cluster: null,
    });
  }
  draft.removeFailedProxy(cmd.proxy_address);
  draft.setFailures(cmd.proxy_address, null);
  if (exists) throw new PartialFailure('ALREADY_EXISTED');
}

export interface RemoveProxy {
  readonly kind: 'removeProxy';
  readonly address: string;
}

export function applyRemoveProxy(draft: Draft, cmd: RemoveProxy): void {
  const proxy = draft.proxy(cmd.address);
  if (!proxy) throw new BrokerError('PROXY_NOT_FOUND');
  if (proxy.cluster !== null) throw new BrokerError('IN_USE');
  draft.deleteProxy(cmd.address);
  draft.removeFailedProxy(cmd.address);
  draft.setFailures(cmd.address, null);
  draft.bumpEpoch();
}

export interface AddFailure {
  readonly kind: 'addFailure';
  readonly address: string;
  readonly reporter: string;
}

/** Records a report time for any address, known or not. */
export function applyAddFailure(draft: Draft, cmd: AddFailure, now: number): void {
  const reports = new Map(draft.store.failures.get(cmd.address) ?? []);
  reports.set(cmd.reporter, now);
  draft.setFailures(cmd.address, reports);
  draft.bumpEpoch();
}

export interface PruneFailures {
  readonly kind: 'pruneFailures';
  readonly ttlSeconds: number;
}

/**
 * Forgets reports older than the TTL. Housekeeping that the reference does
 * inside GET /failures; it leaves the epoch alone, as the reference does.
 */
export function applyPruneFailures(draft: Draft, cmd: PruneFailures, now: number): number {
  let dropped = 0;
  for (const [address, reports] of [...draft.store.failures]) {
    let kept: Map<string, number> | null = null;
    for (const [reporter, at] of reports) {
      if (isReportAlive(at, now, cmd.ttlSeconds)) continue;
      kept ??= new Map(reports);
      kept.delete(reporter);
      dropped += 1;
    }
    if (kept) draft.setFailures(address, kept);
  }
  return dropped;
}
