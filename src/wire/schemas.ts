/**
 * The wire shapes, independent of HTTP: request bodies and the stored
 * document (also read from the metadata file and by the command line).
 * Schemas are compiled once at load, and the conversions from a
 * validated body to the domain's plain data. Unknown fields are ignored,
 * as serde does: every conversion builds fresh objects from the known
 * fields only, so nothing unknown reaches the store. A body that does not
 * fit is INVALID_REQUEST with a message naming the first offending field.
 */
import { Type } from 'typebox';
import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import type { Validator } from 'typebox/compile';
import type { TLocalizedValidationError } from 'typebox/error';
import { DEFAULT_CLUSTER_CONFIG } from '../domain/commands/clusters.js';
import { BrokerError } from '../domain/errors.js';
import type {
  ChunkStore,
  ClusterConfig,
  ClusterStore,
  CompressionStrategy,
  MetaDocument,
  MigrationMeta,
  MigrationSlotRangeStore,
  ProxyResource,
  RangeList,
  SlotRange,
  SlotRangeTag,
} from '../domain/types.js';

// ---- Building blocks ----

/** Non-negative and exact in a JS number (epochs, slots, indices, times). */
const Count = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

/**
 * A JSON object used as a map. Not Type.Record: its key pattern `^.*$` does
 * not match keys holding a newline, which would then go unchecked.
 */
function MapOf<T extends TSchema>(value: T) {
  return Type.Unsafe<Record<string, Static<T>>>(Type.Object({}, { additionalProperties: value }));
}

const Pair = Type.Tuple([Type.String(), Type.String()]);
const Quad = Type.Tuple([Type.String(), Type.String(), Type.String(), Type.String()]);
const RangeListSchema = Type.Array(Type.Tuple([Count, Count]));

const MigrationMetaSchema = Type.Object({
  epoch: Count,
  src_proxy_address: Type.String(),
  src_node_address: Type.String(),
  dst_proxy_address: Type.String(),
  dst_node_address: Type.String(),
});

const SlotRangeSchema = Type.Object({
  range_list: RangeListSchema,
  tag: Type.Union([
    Type.Literal('None'),
    Type.Object({ Migrating: MigrationMetaSchema }),
    Type.Object({ Importing: MigrationMetaSchema }),
  ]),
});

// ---- Bodies of the write routes ----

export const AddProxyBody = Type.Object({
  proxy_address: Type.String(),
  nodes: Pair,
  host: Type.Optional(Type.Union([Type.String(), Type.Null()])),
});

/** POST /clusters/meta and PATCH /clusters/nodes. Sign and multiple of 4 are the domain's to judge. */
export const NodeNumberBody = Type.Object({ node_number: Count });

export const ClusterNodeNumberBody = Type.Object({ cluster_node_number: Count });

export const ChangeConfigBody = MapOf(Type.Union([Type.String(), Type.Number()]));

export const CommitMigrationBody = Type.Object({ cluster_name: Type.String(), slot_range: SlotRangeSchema });

// ---- The stored document (docs/metadata-format.md) ----

const MigrationConfigSchema = Type.Object({
  max_migration_time: Count,
  max_blocking_time: Count,
  scan_interval: Count,
  scan_count: Count,
});

const COMPRESSION: readonly CompressionStrategy[] = ['disabled', 'set_get_only', 'allow_all'];

const ClusterConfigSchema = Type.Object({
  // Any case, as the reference's from_str lowercases; checked in toClusterConfig.
  compression_strategy: Type.Optional(Type.String()),
  migration_config: Type.Optional(MigrationConfigSchema),
});

const MigrationSlotRangeStoreSchema = Type.Object({
  range_list: RangeListSchema,
  is_migrating: Type.Boolean(),
  meta: Type.Object({
    epoch: Count,
    src_chunk_index: Count,
    src_chunk_part: Count,
    dst_chunk_index: Count,
    dst_chunk_part: Count,
  }),
});

const ChunkStoreSchema = Type.Object({
  role_position: Type.Union([
    Type.Literal('Normal'),
    Type.Literal('FirstChunkMaster'),
    Type.Literal('SecondChunkMaster'),
  ]),
  stable_slots: Type.Tuple([Type.Union([SlotRangeSchema, Type.Null()]), Type.Union([SlotRangeSchema, Type.Null()])]),
  migrating_slots: Type.Tuple([Type.Array(MigrationSlotRangeStoreSchema), Type.Array(MigrationSlotRangeStoreSchema)]),
  proxy_addresses: Pair,
  hosts: Pair,
  node_addresses: Quad,
});

const ClusterStoreSchema = Type.Object({
  epoch: Count,
  name: Type.String(),
  chunks: Type.Array(ChunkStoreSchema),
  config: Type.Optional(ClusterConfigSchema),
});

const ProxyResourceSchema = Type.Object({
  proxy_address: Type.String(),
  node_addresses: Pair,
  host: Type.String(),
  cluster: Type.Union([Type.String(), Type.Null()]),
});

export const MetaDocumentBody = Type.Object({
  version: Type.String(),
  global_epoch: Count,
  clusters: MapOf(ClusterStoreSchema),
  all_proxies: MapOf(ProxyResourceSchema),
  failed_proxies: Type.Array(Type.String()),
  failures: MapOf(MapOf(Count)),
});

// ---- Validation ----

const SCHEMAS = {
  addProxy: AddProxyBody,
  nodeNumber: NodeNumberBody,
  clusterNodeNumber: ClusterNodeNumberBody,
  changeConfig: ChangeConfigBody,
  commitMigration: CommitMigrationBody,
  metaDocument: MetaDocumentBody,
};

export type BodyName = keyof typeof SCHEMAS;
export type BodyOf<N extends BodyName> = Static<(typeof SCHEMAS)[N]>;

const validators = Object.fromEntries(
  Object.entries(SCHEMAS).map(([name, schema]) => [name, Compile(schema as TSchema)]),
) as Record<BodyName, Validator>;

/** `/a/0/b` -> `a[0].b`; keys that are not identifiers are quoted. */
function fieldName(pointer: string): string {
  if (pointer === '') return 'body';
  let out = '';
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^[0-9]+$/.test(seg)) out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** The most specific error: the deepest field, the first of equals. */
function describeErrors(errors: readonly TLocalizedValidationError[]): string {
  let best: { field: string; depth: number; message: string } | null = null;
  for (const error of errors) {
    let pointer = error.instancePath;
    let message = error.message;
    if (error.keyword === 'required') {
      const missing = error.params.requiredProperties[0] ?? '';
      pointer = `${pointer}/${missing.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      message = 'is required';
    }
    const depth = pointer === '' ? 0 : pointer.split('/').length;
    if (best === null || depth > best.depth) best = { field: fieldName(pointer), depth, message };
  }
  return best === null ? 'invalid body' : `${best.field}: ${best.message}`;
}

/** Checks a parsed JSON value against a body schema; INVALID_REQUEST naming the field if it does not fit. */
export function checkBody<N extends BodyName>(name: N, value: unknown): BodyOf<N> {
  const validator = validators[name];
  if (validator.Check(value)) return value as BodyOf<N>;
  throw new BrokerError('INVALID_REQUEST', describeErrors(validator.Errors(value)));
}

// ---- Conversions to the domain's data ----

function toRangeList(list: readonly (readonly [number, number])[]): RangeList {
  return list.map(([start, end]) => [start, end] as const);
}

function toMigrationMeta(meta: Static<typeof MigrationMetaSchema>): MigrationMeta {
  return {
    epoch: meta.epoch,
    src_proxy_address: meta.src_proxy_address,
    src_node_address: meta.src_node_address,
    dst_proxy_address: meta.dst_proxy_address,
    dst_node_address: meta.dst_node_address,
  };
}

export function toSlotRange(range: Static<typeof SlotRangeSchema>): SlotRange {
  const tag = range.tag;
  let out: SlotRangeTag;
  if (tag === 'None') out = 'None';
  else if ('Migrating' in tag) out = { Migrating: toMigrationMeta(tag.Migrating) };
  else out = { Importing: toMigrationMeta(tag.Importing) };
  return { range_list: toRangeList(range.range_list), tag: out };
}

/** Config values reach the domain as strings; numbers as their decimal text. */
export function toConfigChanges(body: BodyOf<'changeConfig'>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(body).map(([key, value]) => [key, typeof value === 'number' ? String(value) : value]),
  );
}

function toClusterConfig(config: Static<typeof ClusterConfigSchema> | undefined, where: string): ClusterConfig {
  const strategy = (config?.compression_strategy ?? DEFAULT_CLUSTER_CONFIG.compression_strategy).toLowerCase();
  if (!(COMPRESSION as readonly string[]).includes(strategy)) {
    throw new BrokerError(
      'INVALID_REQUEST',
      `${where}.config.compression_strategy: must be one of ${COMPRESSION.join(', ')}`,
    );
  }
  const m = config?.migration_config ?? DEFAULT_CLUSTER_CONFIG.migration_config;
  return {
    compression_strategy: strategy as CompressionStrategy,
    migration_config: {
      max_migration_time: m.max_migration_time,
      max_blocking_time: m.max_blocking_time,
      scan_interval: m.scan_interval,
      scan_count: m.scan_count,
    },
  };
}

function toMigrationSlotRangeStore(m: Static<typeof MigrationSlotRangeStoreSchema>): MigrationSlotRangeStore {
  return {
    range_list: toRangeList(m.range_list),
    is_migrating: m.is_migrating,
    meta: {
      epoch: m.meta.epoch,
      src_chunk_index: m.meta.src_chunk_index,
      src_chunk_part: m.meta.src_chunk_part,
      dst_chunk_index: m.meta.dst_chunk_index,
      dst_chunk_part: m.meta.dst_chunk_part,
    },
  };
}

function toChunkStore(c: Static<typeof ChunkStoreSchema>): ChunkStore {
  const stable = (s: Static<typeof SlotRangeSchema> | null) => (s === null ? null : toSlotRange(s));
  return {
    role_position: c.role_position,
    stable_slots: [stable(c.stable_slots[0]), stable(c.stable_slots[1])],
    migrating_slots: [
      c.migrating_slots[0].map(toMigrationSlotRangeStore),
      c.migrating_slots[1].map(toMigrationSlotRangeStore),
    ],
    proxy_addresses: [c.proxy_addresses[0], c.proxy_addresses[1]],
    hosts: [c.hosts[0], c.hosts[1]],
    node_addresses: [c.node_addresses[0], c.node_addresses[1], c.node_addresses[2], c.node_addresses[3]],
  };
}

function toClusterStore(key: string, c: Static<typeof ClusterStoreSchema>): ClusterStore {
  return {
    epoch: c.epoch,
    name: c.name,
    chunks: c.chunks.map(toChunkStore),
    config: toClusterConfig(c.config, `clusters[${JSON.stringify(key)}]`),
  };
}

function toProxyResource(p: Static<typeof ProxyResourceSchema>): ProxyResource {
  return {
    proxy_address: p.proxy_address,
    node_addresses: [p.node_addresses[0], p.node_addresses[1]],
    host: p.host,
    cluster: p.cluster,
  };
}

/**
 * The document with defaults filled in and nothing but known fields.
 * Object.fromEntries defines own properties, so a key such as `__proto__`
 * stays an ordinary key.
 */
export function toMetaDocument(doc: BodyOf<'metaDocument'>): MetaDocument {
  return {
    version: doc.version,
    global_epoch: doc.global_epoch,
    clusters: Object.fromEntries(Object.entries(doc.clusters).map(([k, c]) => [k, toClusterStore(k, c)])),
    all_proxies: Object.fromEntries(Object.entries(doc.all_proxies).map(([k, p]) => [k, toProxyResource(p)])),
    failed_proxies: [...doc.failed_proxies],
    failures: Object.fromEntries(
      Object.entries(doc.failures).map(([k, reports]) => [k, Object.fromEntries(Object.entries(reports))]),
    ),
  };
}

/**
 * A stored document from any source (a request body, the metadata file) as
 * checked domain data; INVALID_REQUEST names the first bad field.
 */
export function parseMetaDocument(value: unknown): MetaDocument {
  return toMetaDocument(checkBody('metaDocument', value));
}
