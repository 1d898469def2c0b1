/** Proxy registration, removal and failure reports. */
import { MAX_REPORTERS_PER_PROXY } from '../constants.js';
import { BrokerError, PartialFailure } from '../errors.js';
import { isPathSafeName, isValidProxyAddress, nameProblem, proxyAddressHost } from '../names.js';
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
  if (addressHost === null || !isValidProxyAddress(cmd.proxy_address)) throw new BrokerError('INVALID_PROXY_ADDRESS');
  cmd.nodes.forEach((node, i) => {
    if (!isPathSafeName(node)) throw new BrokerError('INVALID_REQUEST', nameProblem(`nodes[${i}]`, node));
  });
  if (cmd.host !== null && !isPathSafeName(cmd.host))
    throw new BrokerError('INVALID_REQUEST', nameProblem('host', cmd.host));
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
  draft.clearFailures(cmd.proxy_address);
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
  draft.clearFailures(cmd.address);
  draft.bumpEpoch();
}

export interface AddFailure {
  readonly kind: 'addFailure';
  readonly address: string;
  readonly reporter: string;
}

/**
 * Records a report time on a known proxy. A report on an address that is
 * not a registered proxy is answered as before but changes nothing: no
 * answer lists it, and storing it would let any client grow the store.
 * Beyond MAX_REPORTERS_PER_PROXY reporters, the oldest report is dropped.
 */
export function applyAddFailure(draft: Draft, cmd: AddFailure, now: number): void {
  if (!isValidProxyAddress(cmd.address)) throw new BrokerError('INVALID_PROXY_ADDRESS');
  if (!isPathSafeName(cmd.reporter)) throw new BrokerError('INVALID_REQUEST', nameProblem('reporter', cmd.reporter));
  if (draft.proxy(cmd.address) === undefined) return;
  draft.report(cmd.address, cmd.reporter, now);
  const reports = draft.reporters(cmd.address)!;
  if (reports.size > MAX_REPORTERS_PER_PROXY) draft.dropReport(cmd.address, reports.keys().next().value!);
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
  const expired: [string, string][] = [];
  for (const [address, reports] of draft.store.failures) {
    for (const [reporter, at] of reports)
      if (!isReportAlive(at, now, cmd.ttlSeconds)) expired.push([address, reporter]);
  }
  for (const [address, reporter] of expired) draft.dropReport(address, reporter);
  return expired.length;
}
