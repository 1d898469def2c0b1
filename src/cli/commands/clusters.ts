/** `metabroker clusters ...`: list, show, create, remove, grow, migrate, configure. */
import type { ClusterView, MetaDocument, NodeView } from '../../domain/types.js';
import { listAll, seg } from '../client.js';
import type { Context } from '../context.js';
import { BrokerRefusal, UsageError } from '../errors.js';
import { chunksOf, migrationsOf, ownedSlots, readClusterViews, readMetadata, slotsPerMaster } from '../fleet.js';
import type { Chunk } from '../fleet.js';
import { formatRanges, keyValues, plural, slotSummary, table } from '../render.js';
import { clusterTable } from './status.js';
import type { ClusterLine } from './status.js';

/** `-o json`: GET /clusters/names (every page); the table reads each cluster's meta, 32 at a time. */
export async function listClusters(ctx: Context): Promise<void> {
  if (ctx.json) {
    ctx.printJson({ names: await listAll(ctx.client, '/clusters/names', 'names') });
    return;
  }
  const views = await readClusterViews(ctx.client);
  if (views.length === 0) {
    ctx.print('no clusters; create one with `metabroker clusters create NAME NODES`');
    return;
  }
  const lines: ClusterLine[] = views.map((v) => ({
    name: v.name,
    epoch: v.epoch,
    nodes: v.nodes.length,
    masters: slotsPerMaster(v).length,
    migrations: migrationsOf(v).length,
    slots_per_master: slotsPerMaster(v),
    compression_strategy: v.config.compression_strategy,
  }));
  ctx.print(clusterTable(ctx, lines));
}

async function readCluster(ctx: Context, name: string): Promise<{ body: string; view: ClusterView }> {
  const path = `/clusters/meta/${seg(name)}`;
  const { text: body, value } = await ctx.client.callJson<{ cluster: ClusterView | null }>('GET', path);
  const view = value.cluster;
  if (view === null) {
    if (ctx.json) ctx.printBody(body);
    throw new BrokerRefusal('CLUSTER_NOT_FOUND', 200, undefined, `GET /api/v2${path} gave {"cluster":null}`);
  }
  return { body, view };
}

/**
 * Hosts live only in GET /metadata, an administrative route; without the
 * token the table still shows, with `?` for hosts.
 */
async function readHosts(ctx: Context): Promise<Map<string, string> | null> {
  let doc: MetaDocument;
  try {
    doc = await readMetadata(ctx.client);
  } catch (err) {
    if (err instanceof BrokerRefusal && err.code === 'UNAUTHORIZED') return null;
    throw err;
  }
  return new Map(Object.values(doc.all_proxies).map((p) => [p.proxy_address, p.host]));
}

function nodeSlots(node: NodeView): string {
  return formatRanges(node.slots.flatMap((s) => (s.tag === 'None' || 'Migrating' in s.tag ? s.range_list : [])));
}

function chunkMigrations(chunk: Chunk): string {
  const moves: string[] = [];
  for (const node of chunk.nodes) {
    for (const s of node.slots) {
      if (s.tag === 'None') continue;
      if ('Migrating' in s.tag) moves.push(`${formatRanges(s.range_list)} -> ${s.tag.Migrating.dst_proxy_address}`);
      else moves.push(`${formatRanges(s.range_list)} <- ${s.tag.Importing.src_proxy_address}`);
    }
  }
  return moves.length === 0 ? '-' : moves.join('; ');
}

/** `-o json`: GET /clusters/meta/NAME as is. The table: one row per chunk (4 nodes each, in the view's order). */
export async function showCluster(ctx: Context, name: string): Promise<void> {
  const { body, view } = await readCluster(ctx, name);
  if (ctx.json) return ctx.printBody(body);
  const hosts = await readHosts(ctx);
  const c = ctx.colors;
  const chunks = chunksOf(view);
  const counts = slotsPerMaster(view);
  const summary = keyValues(c, [
    ['cluster', view.name],
    ['epoch', String(view.epoch)],
    ['nodes', `${view.nodes.length} (${plural(chunks.length, 'chunk')})`],
    ['masters', `${counts.length}, slots ${slotSummary(c, counts)}`],
    ['migrations', `${migrationsOf(view).length} in flight`],
    ['compression', view.config.compression_strategy],
  ]);
  const hostOf = (address: string) => hosts?.get(address) ?? '?';
  const rows = chunks.map((chunk) => {
    const masterNodes = chunk.nodes.filter((n) => n.repl.role === 'master');
    const row: string[] = [
      String(chunk.index),
      chunk.proxies.join(', '),
      chunk.proxies.map(hostOf).join(', '),
      chunk.role === 'Normal' ? chunk.role : c.yellow(chunk.role),
      masterNodes.map((n) => n.address).join(', '),
      masterNodes.map((n) => (ownedSlots(n) === 0 ? c.dim('-') : nodeSlots(n))).join(' | '),
      chunkMigrations(chunk),
    ];
    if (ctx.wide)
      row.push(
        chunk.nodes
          .filter((n) => n.repl.role === 'replica')
          .map((n) => n.address)
          .join(', '),
      );
    return row;
  });
  const head = ['CHUNK', 'PROXIES', 'HOSTS', 'ROLE', 'MASTERS', 'SLOTS', 'MIGRATIONS'];
  ctx.print(`${summary}\n\n${table(c, ctx.wide ? [...head, 'REPLICAS'] : head, rows, ['right'])}`);
}

/** The empty-bodied writes: print the body with -o json (nothing), else a sentence. */
async function write(ctx: Context, method: string, path: string, body: unknown, done: string): Promise<void> {
  const answer = await ctx.client.call(method, path, body);
  if (ctx.json) return ctx.printBody(answer);
  ctx.print(done);
}

export function createCluster(ctx: Context, name: string, nodes: number): Promise<void> {
  return write(
    ctx,
    'POST',
    `/clusters/meta/${seg(name)}`,
    { node_number: nodes },
    `created cluster ${name} with ${plural(nodes, 'node')}`,
  );
}

export function removeCluster(ctx: Context, name: string): Promise<void> {
  return write(
    ctx,
    'DELETE',
    `/clusters/meta/${seg(name)}`,
    undefined,
    `removed cluster ${name}; its proxies are free again`,
  );
}

/** PATCH /clusters/nodes and PUT /clusters/nodes answer the nodes added. */
async function grow(ctx: Context, method: 'PATCH' | 'PUT', name: string, body: unknown): Promise<void> {
  const answer = await ctx.client.callJson<NodeView[]>(method, `/clusters/nodes/${seg(name)}`, body);
  if (ctx.json) return ctx.printBody(answer.text);
  const nodes = answer.value;
  const rows = nodes.map((n) => [n.address, n.proxy_address, n.repl.role]);
  ctx.print(
    `added ${plural(nodes.length, 'node')} to ${name}; ` +
      `they hold no slots until \`metabroker clusters expand ${name}\`\n\n` +
      table(ctx.colors, ['NODE', 'PROXY', 'ROLE'], rows),
  );
}

export function addNodes(ctx: Context, name: string, nodes: number): Promise<void> {
  return grow(ctx, 'PATCH', name, { node_number: nodes });
}

export function scaleTo(ctx: Context, name: string, nodes: number): Promise<void> {
  return grow(ctx, 'PUT', name, { cluster_node_number: nodes });
}

export function expand(ctx: Context, name: string): Promise<void> {
  const done =
    `expanding ${name}: slots are moving to its empty chunks; ` +
    'follow with `metabroker migrations ls` or `metabroker status --watch`';
  return write(ctx, 'POST', `/clusters/migrations/expand/${seg(name)}`, undefined, done);
}

export function shrink(ctx: Context, name: string, nodes: number): Promise<void> {
  const done =
    `shrinking ${name} to ${plural(nodes, 'node')}: slots are moving to its first chunks; ` +
    `once \`metabroker migrations ls\` shows none, \`metabroker clusters rm-free-nodes ${name}\` releases the rest`;
  return write(ctx, 'POST', `/clusters/migrations/shrink/${seg(name)}/${nodes}`, undefined, done);
}

/** `key=value` words as the body of PATCH /clusters/config; values stay strings, as the broker reads them. */
export function parseConfigPairs(words: readonly string[]): Record<string, string> {
  if (words.length === 0) throw new UsageError('give at least one key=value, e.g. compression_strategy=allow_all');
  const config: Record<string, string> = {};
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq <= 0) throw new UsageError(`${JSON.stringify(word)} is not key=value (e.g. migration_scan_count=20)`);
    Object.defineProperty(config, word.slice(0, eq), {
      value: word.slice(eq + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return config;
}

export function changeConfig(ctx: Context, name: string, words: readonly string[]): Promise<void> {
  const config = parseConfigPairs(words);
  const done = `changed the config of ${name}: ${Object.entries(config)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ')}`;
  return write(ctx, 'PATCH', `/clusters/config/${seg(name)}`, config, done);
}

export function balance(ctx: Context, name: string): Promise<void> {
  return write(
    ctx,
    'PUT',
    `/clusters/balance/${seg(name)}`,
    undefined,
    `balanced the masters of ${name}: healthy chunks are back to one master per proxy`,
  );
}

export function removeFreeNodes(ctx: Context, name: string): Promise<void> {
  return write(
    ctx,
    'DELETE',
    `/clusters/free_nodes/${seg(name)}`,
    undefined,
    `removed the chunks of ${name} that held no slots; their proxies are free again`,
  );
}
