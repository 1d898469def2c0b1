/**
 * Change records: what one generation changed, as JSON. Encoding and
 * applying cost follows the size of the change, not of the store.
 */
import { dropIndex } from '../domain/alloc-index.js';
import { storeFromDocument, storeToDocument } from '../domain/store.js';
import type { ChangeSet, ReportChange } from '../domain/store.js';
import type { ClusterStore, MetaDocument, MetaStore, MutableStore, ProxyResource } from '../domain/types.js';

export interface ChangeRecord {
  /** global epoch after the change */
  readonly e: number;
  /** clusters replaced (record) or removed (null) */
  readonly c?: Record<string, ClusterStore | null>;
  /** proxies replaced or removed */
  readonly p?: Record<string, ProxyResource | null>;
  /** failure reports recorded ([address, reporter, seconds]) or dropped ([address, reporter, null]), in order */
  readonly r?: ReportChange[];
  /** the whole failed_proxies list, when it changed */
  readonly x?: string[];
}

/**
 * Keys are names from clients: Object.fromEntries defines each as an own
 * property, where `obj[key] = v` would set the prototype for `__proto__`
 * and the change would never reach the readers.
 */
export function encodeChanges(store: MetaStore, changes: ChangeSet): string {
  const record: {
    e: number;
    c?: Record<string, ClusterStore | null>;
    p?: Record<string, ProxyResource | null>;
    r?: readonly ReportChange[];
    x?: string[];
  } = {
    e: store.globalEpoch,
  };
  if (changes.clusters.size > 0) {
    record.c = Object.fromEntries([...changes.clusters].map((name) => [name, store.clusters.get(name) ?? null]));
  }
  if (changes.proxies.size > 0) {
    record.p = Object.fromEntries([...changes.proxies].map((address) => [address, store.proxies.get(address) ?? null]));
  }
  // Each report change, not each address's reports: a report costs the same whatever the number of reporters.
  if (changes.reports.length > 0) record.r = changes.reports;
  if (changes.failedProxies) record.x = [...store.failedProxies];
  return JSON.stringify(record);
}

/** Freezes a freshly parsed record tree so that readers cannot change a snapshot by accident. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

/** Applies a change record to a reader's replica in place. */
export function applyChanges(store: MutableStore, record: ChangeRecord): void {
  store.globalEpoch = record.e;
  let keysChanged = false;
  for (const [name, cluster] of Object.entries(record.c ?? {})) {
    if (cluster === null) keysChanged = store.clusters.delete(name) || keysChanged;
    else {
      if (!store.clusters.has(name)) keysChanged = true;
      store.clusters.set(name, deepFreeze(cluster));
    }
  }
  for (const [address, proxy] of Object.entries(record.p ?? {})) {
    if (proxy === null) keysChanged = store.proxies.delete(address) || keysChanged;
    else {
      if (!store.proxies.has(address)) keysChanged = true;
      store.proxies.set(address, deepFreeze(proxy));
    }
  }
  for (const change of record.r ?? []) applyReportChange(store, change);
  if (record.x) store.failedProxies = new Set(record.x);
  store.revision += 1;
  if (keysChanged) store.keysRevision += 1;
  // Replicas change outside a Draft; the index is rebuilt if a read needs it.
  dropIndex(store);
}

/** Replays one report change as Draft.report and Draft.dropReport made it. */
export function applyReportChange(store: MutableStore, [address, reporter, at]: ReportChange): void {
  let reports = store.failures.get(address);
  if (at === null) {
    if (reports === undefined) return;
    reports.delete(reporter);
    if (reports.size === 0) store.failures.delete(address);
    return;
  }
  if (reports === undefined) store.failures.set(address, (reports = new Map<string, number>()));
  reports.delete(reporter);
  reports.set(reporter, at);
}

export function encodeFull(store: MetaStore): string {
  return JSON.stringify(storeToDocument(store));
}

export function decodeFull(json: string): MutableStore {
  const store = storeFromDocument(JSON.parse(json) as MetaDocument);
  for (const cluster of store.clusters.values()) deepFreeze(cluster);
  for (const proxy of store.proxies.values()) deepFreeze(proxy);
  return store;
}
