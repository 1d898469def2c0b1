/**
 * How the store is laid out as etcd keys (relative to the configured
 * prefix). Pure: no client, no I/O, so it is tested directly.
 *
 *   leader                 the elected broker, bound to its lease
 *   current                the data generation readers follow
 *   g/<gen>/version        the format version
 *   g/<gen>/epoch          the global epoch
 *   g/<gen>/c/<name>       one cluster record (JSON)
 *   g/<gen>/p/<address>    one proxy record (JSON)
 *   g/<gen>/x/<address>    a failed proxy; the value orders failed_proxies
 *   g/<gen>/f/<address>/<reporter>  one failure report (unix seconds); a
 *                          report costs one key whatever the number of reporters
 *
 * An ordinary write puts only the keys it changed, in one transaction. A
 * write too large for one transaction (a restore, an epoch forced onto every
 * cluster) is written whole under the next generation in as many
 * transactions as it needs, then one transaction moves `current` and deletes
 * the old generation: readers follow `current`, so none ever sees a mix.
 */
import { META_VERSION } from '../domain/constants.js';
import { emptyStore } from '../domain/store.js';
import type { ChangeSet, Draft } from '../domain/store.js';
import type { ClusterStore, MetaStore, MutableStore, ProxyResource } from '../domain/types.js';

export const LEADER_KEY = 'leader';
export const CURRENT_KEY = 'current';

export function generationPrefix(gen: number): string {
  return `g/${gen}/`;
}

export type KeyKind = 'version' | 'epoch' | 'cluster' | 'proxy' | 'failed' | 'failures';

export interface ParsedKey {
  readonly gen: number;
  readonly kind: KeyKind;
  /** Cluster name or proxy address; '' for version and epoch. */
  readonly id: string;
  /** The reporter of a failure report key; '' for the others. */
  readonly reporter: string;
}

const KIND_BY_TAG: Readonly<Record<string, KeyKind>> = { c: 'cluster', p: 'proxy', x: 'failed', f: 'failures' };
const TAG_BY_KIND: Readonly<Record<'cluster' | 'proxy' | 'failed' | 'failures', string>> = {
  cluster: 'c',
  proxy: 'p',
  failed: 'x',
  failures: 'f',
};

export function dataKey(gen: number, kind: KeyKind, id = '', reporter = ''): string {
  if (kind === 'version' || kind === 'epoch') return `${generationPrefix(gen)}${kind}`;
  // Addresses hold no '/' (src/domain/names.ts), so the reporter follows the last one.
  if (kind === 'failures') return `${generationPrefix(gen)}f/${id}/${reporter}`;
  return `${generationPrefix(gen)}${TAG_BY_KIND[kind]}/${id}`;
}

/** Parses a data key; null for `leader`, `current` and anything unknown. */
export function parseKey(key: string): ParsedKey | null {
  if (!key.startsWith('g/')) return null;
  const slash = key.indexOf('/', 2);
  if (slash < 0) return null;
  // Only the canonical decimal dataKey writes: Number() would also take '', ' 1', '0x1', '1e0'.
  const digits = key.slice(2, slash);
  if (!/^(0|[1-9][0-9]*)$/.test(digits)) return null;
  const gen = Number(digits);
  if (!Number.isSafeInteger(gen)) return null;
  const rest = key.slice(slash + 1);
  if (rest === 'version' || rest === 'epoch') return { gen, kind: rest, id: '', reporter: '' };
  const kind = KIND_BY_TAG[rest.slice(0, 1)];
  if (kind === undefined || rest[1] !== '/') return null;
  if (kind !== 'failures') return { gen, kind, id: rest.slice(2), reporter: '' };
  const cut = rest.indexOf('/', 2);
  if (cut < 0) return null;
  return { gen, kind, id: rest.slice(2, cut), reporter: rest.slice(cut + 1) };
}

export interface KeyWrite {
  readonly key: string;
  /** null deletes the key. */
  readonly value: string | null;
}

/**
 * Orders failed_proxies across brokers: every addition gets a larger
 * number than the last, so a broker that loads the keys (which etcd returns
 * in key order) lists them in the order they failed.
 */
export class FailedOrder {
  private next = 0;

  take(): number {
    return this.next++;
  }

  saw(order: number): void {
    if (order >= this.next) this.next = order + 1;
  }
}

function clusterValue(cluster: ClusterStore): string {
  return JSON.stringify(cluster);
}

function proxyValue(proxy: ProxyResource): string {
  return JSON.stringify(proxy);
}

/** The keys one committed change writes, given the store after it. */
export function writesForChanges(store: MetaStore, changes: ChangeSet, gen: number, order: FailedOrder): KeyWrite[] {
  const writes: KeyWrite[] = [];
  if (changes.epoch) writes.push({ key: dataKey(gen, 'epoch'), value: String(store.globalEpoch) });
  for (const name of changes.clusters) {
    const cluster = store.clusters.get(name);
    writes.push({ key: dataKey(gen, 'cluster', name), value: cluster ? clusterValue(cluster) : null });
  }
  for (const address of changes.proxies) {
    const proxy = store.proxies.get(address);
    writes.push({ key: dataKey(gen, 'proxy', address), value: proxy ? proxyValue(proxy) : null });
  }
  for (const address of changes.failed) {
    const failed = store.failedProxies.has(address);
    writes.push({ key: dataKey(gen, 'failed', address), value: failed ? String(order.take()) : null });
  }
  for (const [address, reporter, at] of changes.reports) {
    writes.push({ key: dataKey(gen, 'failures', address, reporter), value: at === null ? null : String(at) });
  }
  return writes;
}

/** Every key of a whole store under generation `gen`. */
export function writesForStore(store: MetaStore, gen: number, order: FailedOrder): KeyWrite[] {
  const writes: KeyWrite[] = [
    { key: dataKey(gen, 'version'), value: store.version },
    { key: dataKey(gen, 'epoch'), value: String(store.globalEpoch) },
  ];
  for (const [name, cluster] of store.clusters)
    writes.push({ key: dataKey(gen, 'cluster', name), value: clusterValue(cluster) });
  for (const [address, proxy] of store.proxies)
    writes.push({ key: dataKey(gen, 'proxy', address), value: proxyValue(proxy) });
  for (const address of store.failedProxies)
    writes.push({ key: dataKey(gen, 'failed', address), value: String(order.take()) });
  for (const [address, reports] of store.failures) {
    for (const [reporter, at] of reports)
      writes.push({ key: dataKey(gen, 'failures', address, reporter), value: String(at) });
  }
  return writes;
}

/** Bytes a write adds to a transaction request, roughly (key, value and framing). */
export function writeBytes(write: KeyWrite): number {
  return Buffer.byteLength(write.key) + (write.value === null ? 0 : Buffer.byteLength(write.value)) + 16;
}

/** Splits writes into batches of at most `maxOps` writes and about `maxBytes` bytes each. */
export function batchWrites(writes: readonly KeyWrite[], maxOps: number, maxBytes: number): KeyWrite[][] {
  const batches: KeyWrite[][] = [];
  let batch: KeyWrite[] = [];
  let bytes = 0;
  for (const write of writes) {
    const size = writeBytes(write);
    if (batch.length > 0 && (batch.length >= maxOps || bytes + size > maxBytes)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(write);
    bytes += size;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

export class LayoutError extends Error {}

function parseJson(key: string, value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    throw new LayoutError(`etcd key ${key} does not hold JSON`);
  }
}

function parseEpoch(key: string, value: string): number {
  const epoch = Number(value);
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new LayoutError(`etcd key ${key} does not hold an epoch`);
  return epoch;
}

function reportTime(key: string, value: string): number {
  const at = Number(value);
  if (!Number.isSafeInteger(at) || at < 0) throw new LayoutError(`etcd key ${key} does not hold a report time`);
  return at;
}

/**
 * Builds a store from every key of one generation (any order). Keys of
 * other generations are ignored. The document is the leader's own output,
 * so its records are trusted as the metadata file is not.
 */
export function storeFromKeys(
  entries: Iterable<{ readonly key: string; readonly value: string }>,
  gen: number,
  order: FailedOrder,
): MutableStore {
  const store = emptyStore();
  const failed: [number, string][] = [];
  let sawVersion = false;
  for (const { key, value } of entries) {
    const parsed = parseKey(key);
    if (parsed === null || parsed.gen !== gen) continue;
    switch (parsed.kind) {
      case 'version':
        if (value !== META_VERSION)
          throw new LayoutError(
            `etcd holds metadata version ${JSON.stringify(value)}; this broker reads only "${META_VERSION}"`,
          );
        sawVersion = true;
        break;
      case 'epoch':
        store.globalEpoch = parseEpoch(key, value);
        break;
      case 'cluster':
        store.clusters.set(parsed.id, parseJson(key, value) as ClusterStore);
        break;
      case 'proxy':
        store.proxies.set(parsed.id, parseJson(key, value) as ProxyResource);
        break;
      case 'failed': {
        const at = Number(value);
        order.saw(at);
        failed.push([at, parsed.id]);
        break;
      }
      case 'failures': {
        let reports = store.failures.get(parsed.id);
        if (reports === undefined) store.failures.set(parsed.id, (reports = new Map<string, number>()));
        reports.set(parsed.reporter, reportTime(key, value));
        break;
      }
    }
  }
  if (!sawVersion) throw new LayoutError(`generation ${gen} has no version key`);
  failed.sort((a, b) => a[0] - b[0]);
  for (const [, address] of failed) store.failedProxies.add(address);
  // etcd lists keys in byte order; reports are kept oldest first (the first is the one a full list drops).
  for (const [address, reports] of store.failures) {
    store.failures.set(address, new Map([...reports].sort((a, b) => a[1] - b[1])));
  }
  return store;
}

export interface KeyEvent {
  readonly key: string;
  /** null: the key was deleted. */
  readonly value: string | null;
}

/**
 * Applies the events of one etcd revision to a follower's store through a
 * draft, so the caller gets the change set to publish. Events of other
 * generations are ignored.
 */
export function applyKeyEvents(draft: Draft, events: readonly KeyEvent[], gen: number, order: FailedOrder): void {
  for (const { key, value } of events) {
    const parsed = parseKey(key);
    if (parsed === null || parsed.gen !== gen) continue;
    switch (parsed.kind) {
      case 'version':
        break;
      case 'epoch':
        if (value !== null) draft.setGlobalEpoch(parseEpoch(key, value));
        break;
      case 'cluster':
        if (value === null) draft.deleteCluster(parsed.id);
        else draft.setCluster(parseJson(key, value) as ClusterStore);
        break;
      case 'proxy':
        if (value === null) draft.deleteProxy(parsed.id);
        else draft.setProxy(parseJson(key, value) as ProxyResource);
        break;
      case 'failed':
        if (value === null) draft.removeFailedProxy(parsed.id);
        else {
          order.saw(Number(value));
          // A re-added address goes to the end, as it did on the leader.
          draft.removeFailedProxy(parsed.id);
          draft.addFailedProxy(parsed.id);
        }
        break;
      case 'failures':
        if (value === null) draft.dropReport(parsed.id, parsed.reporter);
        else draft.report(parsed.id, parsed.reporter, reportTime(key, value));
        break;
    }
  }
}
