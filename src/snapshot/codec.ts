/**
 * Change records: what one generation changed, as JSON. Encoding and
 * applying cost follows the size of the change, not of the store.
 */
import { dropIndex } from '../domain/alloc-index.js';
import { emptyStore, mergeDocumentSlice, storeToDocument } from '../domain/store.js';
import type { ChangeSet, DocumentSlice, ReportChange } from '../domain/store.js';
import type { ClusterStore, MetaStore, MutableStore, ProxyResource } from '../domain/types.js';
import type { SnapshotText } from './layout.js';

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

/** Entries per line of a sliced snapshot: a line parses in a few milliseconds. */
const SLICE_ENTRIES = 2000;

function* entrySlices<V>(map: ReadonlyMap<string, V>): Generator<[string, V][]> {
  let slice: [string, V][] = [];
  for (const entry of map) {
    slice.push(entry);
    if (slice.length === SLICE_ENTRIES) {
      yield slice;
      slice = [];
    }
  }
  if (slice.length > 0) yield slice;
}

/**
 * A whole store as lines of JSON, each a slice of its document
 * (mergeDocumentSlice): the first holds the scalars and the failed list,
 * each other at most SLICE_ENTRIES entries of one map. JSON text never
 * holds a raw newline, so the lines split at '\n'; decodeFull reads them,
 * and a large store can be rebuilt a line at a time (decodeSlices).
 */
export function encodeSlices(store: MetaStore): string[] {
  const lines = [
    JSON.stringify({
      version: store.version,
      global_epoch: store.globalEpoch,
      failed_proxies: [...store.failedProxies],
    } satisfies DocumentSlice),
  ];
  // Object.fromEntries: own properties even for a key such as `__proto__`.
  for (const slice of entrySlices(store.clusters)) lines.push(JSON.stringify({ clusters: Object.fromEntries(slice) }));
  for (const slice of entrySlices(store.proxies))
    lines.push(JSON.stringify({ all_proxies: Object.fromEntries(slice) }));
  for (const slice of entrySlices(store.failures)) {
    const failures = Object.fromEntries(slice.map(([address, reports]) => [address, Object.fromEntries(reports)]));
    lines.push(JSON.stringify({ failures }));
  }
  return lines;
}

/** Lines of snapshot text, each ended by '\n', written into new shared memory (no joined copy of them is made). */
export function sharedLines(lines: readonly string[]): SnapshotText {
  let length = 0;
  for (const line of lines) length += Buffer.byteLength(line) + 1;
  const bytes = new SharedArrayBuffer(length);
  const view = Buffer.from(bytes);
  let at = 0;
  for (const line of lines) {
    at += view.write(line, at, 'utf8');
    view[at++] = 10;
  }
  return { bytes, length };
}

/** The slices of a snapshot's text (a whole document on one line, or encodeSlices' lines), in order. */
export function* decodeSlices(bytes: Uint8Array, length: number): Generator<DocumentSlice> {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, length);
  for (let at = 0; at < length;) {
    const newline = buffer.indexOf(10, at);
    const end = newline < 0 ? length : newline;
    if (end > at) yield JSON.parse(buffer.toString('utf8', at, end)) as DocumentSlice;
    at = end + 1;
  }
}

/** A reader's replica from a snapshot's text: frozen, as readers never write. */
export function decodeFull(json: string): MutableStore {
  const store = emptyStore();
  for (const line of json.split('\n')) if (line !== '') mergeDocumentSlice(store, JSON.parse(line) as DocumentSlice);
  for (const cluster of store.clusters.values()) deepFreeze(cluster);
  for (const proxy of store.proxies.values()) deepFreeze(proxy);
  return store;
}
