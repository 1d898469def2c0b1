/**
 * Building stores: the empty store, conversion from and to the stored
 * document, and Draft, the journaling writer every command goes through.
 */
import { dropIndex, existingIndex } from './alloc-index.js';
import { META_VERSION } from './constants.js';
import type { ClusterStore, MetaDocument, MetaStore, MutableStore, ProxyResource } from './types.js';

export function emptyStore(): MutableStore {
  return {
    version: META_VERSION,
    globalEpoch: 0,
    clusters: new Map(),
    proxies: new Map(),
    failedProxies: new Set(),
    failures: new Map(),
    revision: 0,
    keysRevision: 0,
  };
}

/** Builds a store from a document that already passed validation. */
export function storeFromDocument(doc: MetaDocument): MutableStore {
  const failures = new Map<string, Map<string, number>>();
  for (const [address, reports] of Object.entries(doc.failures)) {
    failures.set(address, new Map(Object.entries(reports)));
  }
  return {
    version: doc.version,
    globalEpoch: doc.global_epoch,
    clusters: new Map(Object.entries(doc.clusters)),
    proxies: new Map(Object.entries(doc.all_proxies)),
    failedProxies: new Set(doc.failed_proxies),
    failures,
    revision: 0,
    keysRevision: 0,
  };
}

/** Part of a document: what one slice of a sliced document holds (see snapshot/codec.ts). */
export type DocumentSlice = Partial<MetaDocument>;

/**
 * Adds one slice of a document to a store built so far: the scalars and the
 * failed list replace, the maps gain the slice's entries. Slices of one
 * document, merged in order into an empty store, give storeFromDocument's
 * store.
 */
export function mergeDocumentSlice(store: MutableStore, slice: DocumentSlice): void {
  if (slice.version !== undefined) store.version = slice.version;
  if (slice.global_epoch !== undefined) store.globalEpoch = slice.global_epoch;
  if (slice.failed_proxies !== undefined) store.failedProxies = new Set(slice.failed_proxies);
  for (const [name, cluster] of Object.entries(slice.clusters ?? {})) store.clusters.set(name, cluster);
  for (const [address, proxy] of Object.entries(slice.all_proxies ?? {})) store.proxies.set(address, proxy);
  for (const [address, reports] of Object.entries(slice.failures ?? {})) {
    store.failures.set(address, new Map(Object.entries(reports)));
  }
}

export function storeToDocument(store: MetaStore): MetaDocument {
  // Own properties even for an address such as `__proto__`, which `failures[address] =` would drop.
  const failures = Object.fromEntries(
    [...store.failures].map(([address, reports]) => [address, Object.fromEntries(reports)]),
  );
  return {
    version: store.version,
    global_epoch: store.globalEpoch,
    clusters: Object.fromEntries(store.clusters),
    all_proxies: Object.fromEntries(store.proxies),
    failed_proxies: [...store.failedProxies],
    failures,
  };
}

/** Replaces every field of `target` with those of `source` (restore). */
export function replaceStore(target: MutableStore, source: MutableStore): void {
  target.version = source.version;
  target.globalEpoch = source.globalEpoch;
  target.clusters = source.clusters;
  target.proxies = source.proxies;
  target.failedProxies = source.failedProxies;
  target.failures = source.failures;
  target.revision += 1;
  target.keysRevision += 1;
  dropIndex(target);
}

/**
 * One failure report recorded (`at`, unix seconds) or dropped (null). Applied
 * in order, a list of these turns the reports before a change into the
 * reports after it: the record of a report costs the same whatever the
 * number of reporters.
 */
export type ReportChange = readonly [address: string, reporter: string, at: number | null];

/** What a command changed, by key; publication sends only these. */
export interface ChangeSet {
  readonly clusters: ReadonlySet<string>;
  readonly proxies: ReadonlySet<string>;
  readonly failedProxies: boolean;
  /** Addresses added to or removed from failed_proxies. */
  readonly failed: ReadonlySet<string>;
  /** Addresses whose failure reports changed. */
  readonly failures: ReadonlySet<string>;
  /** The report changes behind `failures`, in the order they were made. */
  readonly reports: readonly ReportChange[];
  readonly epoch: boolean;
  /** A cluster or proxy was added or removed. */
  readonly keys: boolean;
}

type Undo = () => void;

/**
 * Writes to a store in place while journaling the previous value of every
 * key it touches, so that `rollback` restores the store exactly and
 * `commit` names what changed. Reads go straight to the store and see the
 * draft's own writes. Nothing is copied that a command does not touch.
 */
export class Draft {
  private readonly journal: Undo[] = [];
  private readonly startEpoch: number;
  private readonly changedClusters = new Set<string>();
  private readonly changedProxies = new Set<string>();
  private readonly changedFailures = new Set<string>();
  private readonly changedFailed = new Set<string>();
  private readonly reportChanges: ReportChange[] = [];
  private failedChanged = false;
  private keysChanged = false;
  /**
   * Key order of each map or set this draft deleted from, taken before the
   * first deletion: undoing a deletion re-inserts the key at the end, so
   * rollback puts the keys back in this order.
   */
  private readonly orders = new Map<Map<string, unknown> | Set<string>, string[]>();

  constructor(readonly store: MutableStore) {
    this.startEpoch = store.globalEpoch;
  }

  get globalEpoch(): number {
    return this.store.globalEpoch;
  }

  /** Raises the global epoch by one and returns the new value. */
  bumpEpoch(): number {
    this.store.globalEpoch += 1;
    return this.store.globalEpoch;
  }

  setGlobalEpoch(epoch: number): void {
    this.store.globalEpoch = epoch;
  }

  cluster(name: string): ClusterStore | undefined {
    return this.store.clusters.get(name);
  }

  setCluster(cluster: ClusterStore): void {
    this.replaceCluster(cluster.name, cluster);
  }

  deleteCluster(name: string): void {
    this.replaceCluster(name, undefined);
  }

  private replaceCluster(name: string, next: ClusterStore | undefined): void {
    const clusters = this.store.clusters;
    const prev = clusters.get(name);
    if ((prev === undefined) !== (next === undefined)) this.keysChanged = true;
    if (prev !== undefined && next === undefined) this.keepOrder(clusters);
    const put = (from: ClusterStore | undefined, to: ClusterStore | undefined) => {
      if (to) clusters.set(name, to);
      else clusters.delete(name);
      existingIndex(this.store)?.clusterReplaced(from, to);
    };
    this.journal.push(() => put(next, prev));
    put(prev, next);
    this.changedClusters.add(name);
  }

  proxy(address: string): ProxyResource | undefined {
    return this.store.proxies.get(address);
  }

  setProxy(proxy: ProxyResource): void {
    this.replaceProxy(proxy.proxy_address, proxy);
  }

  private replaceProxy(address: string, next: ProxyResource | undefined): void {
    const proxies = this.store.proxies;
    const prev = proxies.get(address);
    if ((prev === undefined) !== (next === undefined)) this.keysChanged = true;
    if (prev !== undefined && next === undefined) this.keepOrder(proxies);
    const put = (to: ProxyResource | undefined) => {
      if (to) proxies.set(address, to);
      else proxies.delete(address);
      this.touched(address);
    };
    this.journal.push(() => put(prev));
    put(next);
    this.changedProxies.add(address);
  }

  /** Keeps the allocation index, if any, in step with a proxy's state. */
  private touched(address: string): void {
    existingIndex(this.store)?.proxyTouched(address);
  }

  /** Sets the `cluster` field of a proxy, if it exists and differs. */
  assignProxy(address: string, cluster: string | null): void {
    const proxy = this.proxy(address);
    if (proxy && proxy.cluster !== cluster) this.setProxy({ ...proxy, cluster });
  }

  deleteProxy(address: string): void {
    this.replaceProxy(address, undefined);
  }

  addFailedProxy(address: string): void {
    const set = this.store.failedProxies;
    if (set.has(address)) return;
    set.add(address);
    this.touched(address);
    this.journal.push(() => (set.delete(address), this.touched(address)));
    this.failedChanged = true;
    this.changedFailed.add(address);
  }

  removeFailedProxy(address: string): void {
    const set = this.store.failedProxies;
    if (!set.has(address)) return;
    this.keepOrder(set);
    set.delete(address);
    this.touched(address);
    this.journal.push(() => (set.add(address), this.touched(address)));
    this.failedChanged = true;
    this.changedFailed.add(address);
  }

  /**
   * Records `reporter`'s report on `address` at `at`. The reporter moves to
   * the end of the address's reports, so they stay in the order they were
   * last made: the first is the oldest. Costs the same whatever the number
   * of reporters, but for the first move or drop of a draft, which keeps
   * the order for rollback.
   */
  report(address: string, reporter: string, at: number): void {
    const failures = this.store.failures;
    let reports = failures.get(address);
    if (reports === undefined) {
      const created = new Map<string, number>();
      reports = created;
      failures.set(address, created);
      this.touched(address);
      this.journal.push(() => (failures.delete(address), this.touched(address)));
    }
    const map = reports;
    const prev = map.get(reporter);
    if (prev !== undefined) {
      this.keepOrder(map);
      map.delete(reporter);
    }
    map.set(reporter, at);
    this.journal.push(() => (prev === undefined ? map.delete(reporter) : map.set(reporter, prev)));
    this.reportChanges.push([address, reporter, at]);
    this.changedFailures.add(address);
  }

  /** Drops one report; the address goes when its last report does. */
  dropReport(address: string, reporter: string): void {
    const failures = this.store.failures;
    const map = failures.get(address);
    const prev = map?.get(reporter);
    if (map === undefined || prev === undefined) return;
    this.keepOrder(map);
    map.delete(reporter);
    this.journal.push(() => map.set(reporter, prev));
    if (map.size === 0) {
      this.keepOrder(failures);
      failures.delete(address);
      this.touched(address);
      this.journal.push(() => (failures.set(address, map), this.touched(address)));
    }
    this.reportChanges.push([address, reporter, null]);
    this.changedFailures.add(address);
  }

  /** Drops every report on `address`. */
  clearFailures(address: string): void {
    const map = this.store.failures.get(address);
    if (map === undefined) return;
    for (const reporter of [...map.keys()]) this.dropReport(address, reporter);
    // A restored document may hold an empty report map: it goes as well.
    if (map.size === 0 && this.store.failures.get(address) === map) {
      const failures = this.store.failures;
      this.keepOrder(failures);
      failures.delete(address);
      this.touched(address);
      this.journal.push(() => (failures.set(address, map), this.touched(address)));
      this.changedFailures.add(address);
    }
  }

  /** Reporters on `address`, oldest report first. */
  reporters(address: string): ReadonlyMap<string, number> | undefined {
    return this.store.failures.get(address);
  }

  /** Failed, or reported and not yet cleared: never allocate it. */
  isUnhealthy(address: string): boolean {
    return this.store.failedProxies.has(address) || this.store.failures.has(address);
  }

  /** Nothing written so far. */
  get untouched(): boolean {
    return this.journal.length === 0 && this.store.globalEpoch === this.startEpoch;
  }

  /** Undoes every write of this draft, newest first. */
  rollback(): void {
    for (let i = this.journal.length - 1; i >= 0; i--) this.journal[i]!();
    this.journal.length = 0;
    for (const [container, order] of this.orders) restoreOrder(container, order);
    this.orders.clear();
    this.store.globalEpoch = this.startEpoch;
  }

  /** What this draft has changed so far, without committing it. */
  changes(): ChangeSet {
    return {
      clusters: this.changedClusters,
      proxies: this.changedProxies,
      failedProxies: this.failedChanged,
      failed: this.changedFailed,
      failures: this.changedFailures,
      reports: this.reportChanges,
      epoch: this.store.globalEpoch !== this.startEpoch,
      keys: this.keysChanged,
    };
  }

  commit(): ChangeSet {
    this.journal.length = 0;
    this.orders.clear();
    this.store.revision += 1;
    if (this.keysChanged) this.store.keysRevision += 1;
    return this.changes();
  }

  private keepOrder(container: Map<string, unknown> | Set<string>): void {
    if (!this.orders.has(container)) this.orders.set(container, [...container.keys()]);
  }
}

/** Re-inserts the keys of a container (the same keys, after a rollback) in `order`. */
function restoreOrder(container: Map<string, unknown> | Set<string>, order: readonly string[]): void {
  if (container instanceof Set) {
    container.clear();
    for (const key of order) container.add(key);
    return;
  }
  const values = order.map((key) => container.get(key));
  container.clear();
  order.forEach((key, i) => container.set(key, values[i]));
}
