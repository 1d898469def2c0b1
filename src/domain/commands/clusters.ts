/** Cluster lifecycle: create, delete, grow, drop empty chunks, balance, config. */
import { allocateChunks } from '../allocate.js';
import { hasRunningMigration, newChunks } from '../chunks.js';
import { CHUNK_NODE_NUM } from '../constants.js';
import { BrokerError } from '../errors.js';
import { isValidClusterName } from '../names.js';
import type { Draft } from '../store.js';
import type { ClusterConfig, ClusterStore, CompressionStrategy, MigrationConfig, NodeView } from '../types.js';
import { clusterView } from '../views.js';

export const DEFAULT_CLUSTER_CONFIG: ClusterConfig = {
  compression_strategy: 'disabled',
  migration_config: { max_migration_time: 10800, max_blocking_time: 10000, scan_interval: 500, scan_count: 16 },
};

/** The cluster of that name, checking the name first. */
export function requireCluster(draft: Draft, name: string): ClusterStore {
  if (!isValidClusterName(name)) throw new BrokerError('INVALID_CLUSTER_NAME');
  const cluster = draft.cluster(name);
  if (!cluster) throw new BrokerError('CLUSTER_NOT_FOUND');
  return cluster;
}

/** Proxies needed for `nodes` nodes; throws unless a positive multiple of 4. */
function proxiesForNodes(nodes: number): number {
  if (!Number.isSafeInteger(nodes) || nodes <= 0 || nodes % CHUNK_NODE_NUM !== 0) {
    throw new BrokerError('INVALID_NODE_NUMBER');
  }
  return nodes / 2;
}

function occupy(draft: Draft, cluster: ClusterStore): void {
  for (const chunk of cluster.chunks) {
    for (const address of chunk.proxy_addresses) draft.assignProxy(address, cluster.name);
  }
}

export interface AddCluster {
  readonly kind: 'addCluster';
  readonly name: string;
  readonly nodeNumber: number;
}

export function applyAddCluster(draft: Draft, cmd: AddCluster): void {
  if (!isValidClusterName(cmd.name)) throw new BrokerError('INVALID_CLUSTER_NAME');
  if (draft.cluster(cmd.name)) throw new BrokerError('ALREADY_EXISTED');
  const pairs = allocateChunks(draft, proxiesForNodes(cmd.nodeNumber));
  const cluster: ClusterStore = {
    epoch: draft.bumpEpoch(),
    name: cmd.name,
    chunks: newChunks(pairs, true),
    config: DEFAULT_CLUSTER_CONFIG,
  };
  draft.setCluster(cluster);
  occupy(draft, cluster);
}

export interface RemoveCluster {
  readonly kind: 'removeCluster';
  readonly name: string;
}

export function applyRemoveCluster(draft: Draft, cmd: RemoveCluster): void {
  const cluster = requireCluster(draft, cmd.name);
  draft.deleteCluster(cmd.name);
  for (const chunk of cluster.chunks) {
    for (const address of chunk.proxy_addresses) draft.assignProxy(address, null);
  }
  draft.bumpEpoch();
}

export interface AddNodes {
  readonly kind: 'addNodes';
  readonly name: string;
  readonly nodeNumber: number;
}

/** Appends empty chunks for `nodeNumber` more nodes; answers the new nodes. */
export function applyAddNodes(draft: Draft, cmd: AddNodes, migrationLimit: number): NodeView[] {
  const cluster = requireCluster(draft, cmd.name);
  if (hasRunningMigration(cluster)) throw new BrokerError('MIGRATION_RUNNING');
  const pairs = allocateChunks(draft, proxiesForNodes(cmd.nodeNumber));
  const grown: ClusterStore = {
    ...cluster,
    epoch: draft.bumpEpoch(),
    chunks: [...cluster.chunks, ...newChunks(pairs, false)],
  };
  draft.setCluster(grown);
  occupy(draft, grown);
  return clusterView(grown, migrationLimit).nodes.slice(cluster.chunks.length * CHUNK_NODE_NUM);
}

export interface ScaleNodes {
  readonly kind: 'scaleNodes';
  readonly name: string;
  readonly clusterNodeNumber: number;
}

/** Grows the cluster to `clusterNodeNumber` nodes (4 per chunk). */
export function applyScaleNodes(draft: Draft, cmd: ScaleNodes, migrationLimit: number): NodeView[] {
  const cluster = requireCluster(draft, cmd.name);
  const missing = cmd.clusterNodeNumber - cluster.chunks.length * CHUNK_NODE_NUM;
  if (missing <= 0) throw new BrokerError('NODE_NUM_ALREADY_ENOUGH');
  return applyAddNodes(draft, { kind: 'addNodes', name: cmd.name, nodeNumber: missing }, migrationLimit);
}

export interface DeleteFreeNodes {
  readonly kind: 'deleteFreeNodes';
  readonly name: string;
}

/** Drops every chunk that holds no slot, stable or migrating. */
export function applyDeleteFreeNodes(draft: Draft, cmd: DeleteFreeNodes): void {
  const cluster = requireCluster(draft, cmd.name);
  if (hasRunningMigration(cluster)) throw new BrokerError('MIGRATION_RUNNING');
  const isFree = (c: ClusterStore['chunks'][number]) => c.stable_slots[0] === null && c.stable_slots[1] === null;
  const removed = cluster.chunks.filter(isFree);
  if (removed.length === 0) throw new BrokerError('FREE_NODE_NOT_FOUND');
  draft.setCluster({ ...cluster, epoch: draft.bumpEpoch(), chunks: cluster.chunks.filter((c) => !isFree(c)) });
  for (const chunk of removed) {
    for (const address of chunk.proxy_addresses) draft.assignProxy(address, null);
  }
}

export interface BalanceMasters {
  readonly kind: 'balanceMasters';
  readonly name: string;
}

/** Sets every chunk without failed or reported proxies back to Normal. */
export function applyBalanceMasters(draft: Draft, cmd: BalanceMasters): void {
  const cluster = requireCluster(draft, cmd.name);
  const chunks = cluster.chunks.map((c) =>
    c.role_position === 'Normal' || c.proxy_addresses.some((a) => draft.isUnhealthy(a))
      ? c
      : { ...c, role_position: 'Normal' as const },
  );
  draft.setCluster({ ...cluster, epoch: draft.bumpEpoch(), chunks });
}

export interface ChangeConfig {
  readonly kind: 'changeConfig';
  readonly name: string;
  readonly config: Readonly<Record<string, string>>;
}

const COMPRESSION: readonly CompressionStrategy[] = ['disabled', 'set_get_only', 'allow_all'];
const MIGRATION_FIELDS = ['max_migration_time', 'max_blocking_time', 'scan_interval', 'scan_count'] as const;

function invalidConfig(key: string, value: string, message: 'FIELD_NOT_FOUND' | 'INVALID_VALUE'): BrokerError {
  return new BrokerError('INVALID_CONFIG', undefined, { key, value, message });
}

/** Unsigned integer as Rust's u64 parser reads it, within JS's safe range. */
function parseUnsigned(value: string): number | null {
  if (!/^\+?[0-9]+$/.test(value)) return null;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : null;
}

function setConfigField(config: ClusterConfig, key: string, value: string): ClusterConfig {
  const field = key.toLowerCase();
  if (field === 'compression_strategy') {
    const strategy = value.toLowerCase() as CompressionStrategy;
    if (!COMPRESSION.includes(strategy)) throw invalidConfig(key, value, 'INVALID_VALUE');
    return { ...config, compression_strategy: strategy };
  }
  if (!field.startsWith('migration_')) throw invalidConfig(key, value, 'FIELD_NOT_FOUND');
  const sub = field.slice('migration_'.length) as keyof MigrationConfig;
  if (!(MIGRATION_FIELDS as readonly string[]).includes(sub)) throw invalidConfig(key, value, 'FIELD_NOT_FOUND');
  const n = parseUnsigned(value);
  if (n === null || (sub === 'scan_count' && n === 0)) throw invalidConfig(key, value, 'INVALID_VALUE');
  return { ...config, migration_config: { ...config.migration_config, [sub]: n } };
}

export function applyChangeConfig(draft: Draft, cmd: ChangeConfig): void {
  const cluster = requireCluster(draft, cmd.name);
  let config = cluster.config;
  for (const [key, value] of Object.entries(cmd.config)) config = setConfigField(config, key, value);
  draft.setCluster({ ...cluster, epoch: draft.bumpEpoch(), config });
}
