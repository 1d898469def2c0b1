/**
 * Building stores: the empty store, conversion from and to the stored
 * document, and Draft, the journaling writer every command goes through.
 */
import { dropIndex, existingIndex } from './alloc-index.js';
import { META_VERSION } from './constants.js';
import type { ClusterStore, FailureReports, MetaDocument, MetaStore, MutableStore, ProxyResource } from './types.js';

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
  const failures = new Map<string, FailureReports>();
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

export function storeToDocument(store: MetaStore): MetaDocument {
  // Own properties even for an address such as `__proto__`, which `failures[address] =` would drop.
  const failures = Object.fromEntries([...store.failures].map(([address, reports]) => [address, Object.fromEntries(reports)]));
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

/** What a command changed, by key; publication sends only these. */
export interface ChangeSet {
  readonly clusters: ReadonlySet<string>;
  readonly proxies: ReadonlySet<string>;
  readonly failedProxies: boolean;
  /** Addresses added to or removed from failed_proxies. */
  readonly failed: ReadonlySet<string>;
  readonly failures: ReadonlySet<string>;
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

  /** Replaces the reports of one address; null or empty removes them. */
  setFailures(address: string, reports: FailureReports | null): void {
    const map = this.store.failures;
    if ((reports === null || reports.size === 0) && !map.has(address)) return;
    const prev = map.get(address);
    if (prev !== undefined && (reports === null || reports.size === 0)) this.keepOrder(map);
    const put = (to: FailureReports | undefined) => {
      if (to && to.size > 0) map.set(address, to);
      else map.delete(address);
      this.touched(address);
    };
    // Undo puts back exactly what was there, even an empty report map (a
    // restored document may hold one); dropping it left rollback's key
    // order restoring the key with an undefined value.
    this.journal.push(() => {
      if (prev === undefined) map.delete(address);
      else map.set(address, prev);
      this.touched(address);
    });
    put(reports ?? undefined);
    this.changedFailures.add(address);
  }

  /** Failed, or reported and not yet cleared: never allocate it. */
  isUnhealthy(address: string): boolean {
    return this.store.failedProxies.has(address) || this.store.failures.has(address);
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
