/**
 * The stored document's shapes (docs/metadata-format.md). Cluster, chunk and proxy
 * records keep the document's snake_case field names so that they are
 * written and read without conversion; the top level uses Maps for speed.
 *
 * Records are immutable: a change replaces a record, never edits it, so a
 * record can be shared between snapshots and views can be cached per record.
 * The top-level maps are changed in place only through a Draft (store.ts),
 * which journals every write so that a failed command can be rolled back.
 */

export type Range = readonly [number, number];
export type RangeList = readonly Range[];

export interface MigrationMeta {
  readonly epoch: number;
  readonly src_proxy_address: string;
  readonly src_node_address: string;
  readonly dst_proxy_address: string;
  readonly dst_node_address: string;
}

export type SlotRangeTag = 'None' | { readonly Migrating: MigrationMeta } | { readonly Importing: MigrationMeta };

export interface SlotRange {
  readonly range_list: RangeList;
  readonly tag: SlotRangeTag;
}

export interface MigrationMetaStore {
  readonly epoch: number;
  readonly src_chunk_index: number;
  readonly src_chunk_part: number;
  readonly dst_chunk_index: number;
  readonly dst_chunk_part: number;
}

export interface MigrationSlotRangeStore {
  readonly range_list: RangeList;
  /** true on the source part (migrating), false on the destination (importing). */
  readonly is_migrating: boolean;
  readonly meta: MigrationMetaStore;
}

export type RolePosition = 'Normal' | 'FirstChunkMaster' | 'SecondChunkMaster';

export type Pair<T> = readonly [T, T];
export type Quad<T> = readonly [T, T, T, T];

export interface ChunkStore {
  readonly role_position: RolePosition;
  readonly stable_slots: Pair<SlotRange | null>;
  readonly migrating_slots: Pair<readonly MigrationSlotRangeStore[]>;
  readonly proxy_addresses: Pair<string>;
  readonly hosts: Pair<string>;
  readonly node_addresses: Quad<string>;
}

export type CompressionStrategy = 'disabled' | 'set_get_only' | 'allow_all';

export interface MigrationConfig {
  readonly max_migration_time: number;
  readonly max_blocking_time: number;
  readonly scan_interval: number;
  readonly scan_count: number;
}

export interface ClusterConfig {
  readonly compression_strategy: CompressionStrategy;
  readonly migration_config: MigrationConfig;
}

export interface ClusterStore {
  readonly epoch: number;
  readonly name: string;
  readonly chunks: readonly ChunkStore[];
  readonly config: ClusterConfig;
}

export interface ProxyResource {
  readonly proxy_address: string;
  readonly node_addresses: Pair<string>;
  readonly host: string;
  readonly cluster: string | null;
}

/** reporter id => unix seconds of the latest report */
export type FailureReports = ReadonlyMap<string, number>;

export interface MetaStore {
  readonly version: string;
  readonly globalEpoch: number;
  readonly clusters: ReadonlyMap<string, ClusterStore>;
  readonly proxies: ReadonlyMap<string, ProxyResource>;
  readonly failedProxies: ReadonlySet<string>;
  readonly failures: ReadonlyMap<string, FailureReports>;
  /** Rises with every committed change. Not persisted. */
  readonly revision: number;
  /** Rises when a cluster or proxy is added or removed; keys the sorted listings. */
  readonly keysRevision: number;
}

/** The owner's store: the same data, writable through a Draft only. */
export interface MutableStore {
  version: string;
  globalEpoch: number;
  clusters: Map<string, ClusterStore>;
  proxies: Map<string, ProxyResource>;
  failedProxies: Set<string>;
  /** Each address's reports, oldest first (Draft.report keeps that order). */
  failures: Map<string, Map<string, number>>;
  revision: number;
  keysRevision: number;
}

/** The wire document, exactly as undermoon writes it. */
export interface MetaDocument {
  version: string;
  global_epoch: number;
  clusters: Record<string, ClusterStore>;
  all_proxies: Record<string, ProxyResource>;
  failed_proxies: string[];
  failures: Record<string, Record<string, number>>;
}

// ---- Views served to coordinators (docs/api.md#shapes) ----

export interface ReplPeer {
  readonly node_address: string;
  readonly proxy_address: string;
}

export interface NodeView {
  readonly address: string;
  readonly proxy_address: string;
  readonly cluster_name: string;
  readonly slots: readonly SlotRange[];
  readonly repl: { readonly role: 'master' | 'replica'; readonly peers: readonly ReplPeer[] };
}

export interface ClusterView {
  readonly name: string;
  readonly epoch: number;
  readonly nodes: readonly NodeView[];
  readonly config: ClusterConfig;
}

export interface PeerProxyView {
  readonly proxy_address: string;
  readonly cluster_name: string;
  readonly slots: readonly SlotRange[];
}

export interface ProxyView {
  readonly address: string;
  readonly epoch: number;
  readonly nodes: readonly NodeView[];
  readonly free_nodes: readonly string[];
  readonly peers: readonly PeerProxyView[];
  readonly clusters_config: Readonly<Record<string, ClusterConfig>>;
}
