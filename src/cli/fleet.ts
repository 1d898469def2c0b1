/**
 * Reading a fleet the way coordinators do (paged names, then metas in
 * parallel, a bounded number in flight) and reading a cluster view back
 * into chunks, masters, slot counts and migrations.
 */
import type { ClusterView, MetaDocument, MigrationMeta, NodeView, RolePosition, SlotRange } from '../domain/types.js';
import { CHUNK_NODE_NUM } from '../domain/constants.js';
import { MAX_IN_FLIGHT, listAll, mapBounded, seg } from './client.js';
import type { BrokerClient } from './client.js';
import { countSlots } from './render.js';

/** Every cluster's view, in name order; a cluster removed while reading is left out. */
export async function readClusterViews(client: BrokerClient): Promise<ClusterView[]> {
  const names = await listAll(client, '/clusters/names', 'names');
  const views = await mapBounded(names, MAX_IN_FLIGHT, (name) =>
    client.get<{ cluster: ClusterView | null }>(`/clusters/meta/${seg(name)}`),
  );
  return views.flatMap((v) => (v.cluster === null ? [] : [v.cluster]));
}

export function readProxyAddresses(client: BrokerClient): Promise<string[]> {
  return listAll(client, '/proxies/addresses', 'addresses');
}

export async function readAddressList(
  client: BrokerClient,
  path: '/failures' | '/proxies/failed/addresses',
): Promise<string[]> {
  return (await client.get<{ addresses: string[] }>(path)).addresses;
}

export function readMetadata(client: BrokerClient): Promise<MetaDocument> {
  return client.get<MetaDocument>('/metadata');
}

export interface Chunk {
  readonly index: number;
  /** The chunk's four nodes, as the view lists them. */
  readonly nodes: readonly NodeView[];
  readonly proxies: readonly [string, string];
  readonly role: RolePosition;
}

/** Which nodes are masters tells the role position: 0 and 2 normally, both of one proxy after a takeover. */
function roleOf(nodes: readonly NodeView[]): RolePosition {
  const masters = nodes.flatMap((n, i) => (n.repl.role === 'master' ? [i] : []));
  if (masters[0] === 0 && masters[1] === 1) return 'FirstChunkMaster';
  if (masters[0] === 2 && masters[1] === 3) return 'SecondChunkMaster';
  return 'Normal';
}

/** A cluster view's nodes come 4 per chunk, in chunk order: nodes 0-1 on the first proxy, 2-3 on the second. */
export function chunksOf(view: ClusterView): Chunk[] {
  const chunks: Chunk[] = [];
  for (let i = 0; i + CHUNK_NODE_NUM <= view.nodes.length; i += CHUNK_NODE_NUM) {
    const nodes = view.nodes.slice(i, i + CHUNK_NODE_NUM);
    chunks.push({
      index: i / CHUNK_NODE_NUM,
      nodes,
      proxies: [nodes[0]!.proxy_address, nodes[2]!.proxy_address],
      role: roleOf(nodes),
    });
  }
  return chunks;
}

export function masters(view: ClusterView): NodeView[] {
  return view.nodes.filter((n) => n.repl.role === 'master');
}

/** Slots a node owns: its stable ranges and those it is migrating away (the importer owns them only once committed). */
export function ownedSlots(node: NodeView): number {
  let n = 0;
  for (const range of node.slots)
    if (range.tag === 'None' || 'Migrating' in range.tag) n += countSlots(range.range_list);
  return n;
}

export function slotsPerMaster(view: ClusterView): number[] {
  return masters(view).map(ownedSlots);
}

export interface Migration {
  readonly cluster: string;
  readonly range_list: SlotRange['range_list'];
  readonly epoch: number;
  readonly src_proxy_address: string;
  readonly src_node_address: string;
  readonly dst_proxy_address: string;
  readonly dst_node_address: string;
}

/** The migrations in flight: one per Migrating tag (its Importing twin names the same move). */
export function migrationsOf(view: ClusterView): Migration[] {
  const out: Migration[] = [];
  for (const node of view.nodes) {
    for (const range of node.slots) {
      if (range.tag === 'None' || !('Migrating' in range.tag)) continue;
      const meta: MigrationMeta = range.tag.Migrating;
      out.push({ cluster: view.name, range_list: range.range_list, ...meta });
    }
  }
  return out;
}

/** Addresses of the proxies that serve any of these clusters. */
export function proxiesInClusters(views: readonly ClusterView[]): Set<string> {
  const set = new Set<string>();
  for (const view of views) for (const node of view.nodes) set.add(node.proxy_address);
  return set;
}

/** Distinct hosts of the registered proxies. */
export function hostCount(doc: MetaDocument): number {
  return new Set(Object.values(doc.all_proxies).map((p) => p.host)).size;
}
