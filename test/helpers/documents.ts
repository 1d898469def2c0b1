/**
 * Hand-built stored documents, for states that commands reach only after
 * long detours (chosen link tables, chunks on one host, odd roles).
 */
import { DEFAULT_CLUSTER_CONFIG } from '../../src/domain/commands/clusters.js';
import { META_VERSION, SLOT_NUM } from '../../src/domain/constants.js';
import type {
  ChunkStore,
  ClusterStore,
  MetaDocument,
  MigrationSlotRangeStore,
  ProxyResource,
} from '../../src/domain/types.js';

export interface DocumentSpec {
  /** Proxy addresses, optionally `address@host` to give a host other than the address's. */
  readonly proxies: readonly string[];
  /** Cluster name => chunks as [first proxy, second proxy]. */
  readonly clusters?: Readonly<Record<string, readonly (readonly [string, string])[]>>;
  readonly failed?: readonly string[] | undefined;
  readonly failures?: Readonly<Record<string, Readonly<Record<string, number>>>>;
  readonly globalEpoch?: number;
}

export function nodesOf(address: string): [string, string] {
  return [`${address}-n0`, `${address}-n1`];
}

export function buildDocument(spec: DocumentSpec): MetaDocument {
  const epoch = spec.globalEpoch ?? 10;
  const proxies = new Map<string, ProxyResource>();
  for (const entry of spec.proxies) {
    const [address, explicitHost] = entry.split('@') as [string, string | undefined];
    proxies.set(address, {
      proxy_address: address,
      node_addresses: nodesOf(address),
      host: explicitHost ?? address.split(':')[0]!,
      cluster: null,
    });
  }
  const clusters: Record<string, ClusterStore> = {};
  for (const [name, pairs] of Object.entries(spec.clusters ?? {})) {
    const masters = pairs.length * 2;
    const average = Math.floor(SLOT_NUM / masters);
    const remainder = SLOT_NUM % masters;
    let next = 0;
    const take = (master: number) => {
      const start = next;
      next += average + (master < remainder ? 1 : 0);
      return { range_list: [[start, next - 1]] as [number, number][], tag: 'None' as const };
    };
    const chunks = pairs.map(([a, b], i): ChunkStore => {
      const pa = proxies.get(a);
      const pb = proxies.get(b);
      if (!pa || !pb) throw new Error(`unknown proxy in chunk ${a} ${b}`);
      proxies.set(a, { ...pa, cluster: name });
      proxies.set(b, { ...pb, cluster: name });
      return {
        role_position: 'Normal',
        stable_slots: [take(2 * i), take(2 * i + 1)],
        migrating_slots: [[], []],
        proxy_addresses: [a, b],
        hosts: [pa.host, pb.host],
        node_addresses: [...pa.node_addresses, ...pb.node_addresses] as unknown as ChunkStore['node_addresses'],
      };
    });
    clusters[name] = { epoch, name, chunks, config: DEFAULT_CLUSTER_CONFIG };
  }
  return {
    version: META_VERSION,
    global_epoch: epoch,
    clusters,
    all_proxies: Object.fromEntries(proxies),
    failed_proxies: [...(spec.failed ?? [])],
    failures: Object.fromEntries(Object.entries(spec.failures ?? {}).map(([k, v]) => [k, { ...v }])),
  };
}

/** A deep copy, for editing a document in a test without touching the original. */
export function cloneDocument(doc: MetaDocument): MetaDocument {
  return JSON.parse(JSON.stringify(doc)) as MetaDocument;
}

/** One cluster of two chunks whose first part migrates `n` single-slot ranges (slots 0..n-1) to the second chunk. */
export function manyMigrations(n: number): MetaDocument {
  const doc = buildDocument({
    proxies: ['h1:1', 'h2:1', 'h3:1', 'h4:1'],
    clusters: {
      c: [
        ['h1:1', 'h2:1'],
        ['h3:1', 'h4:1'],
      ],
    },
  });
  const chunks = doc.clusters.c!.chunks as ChunkStore[];
  const meta = { epoch: 5, src_chunk_index: 0, src_chunk_part: 0, dst_chunk_index: 1, dst_chunk_part: 0 };
  const out: MigrationSlotRangeStore[] = [];
  const into: MigrationSlotRangeStore[] = [];
  for (let i = 0; i < n; i++) {
    out.push({ range_list: [[i, i]], is_migrating: true, meta });
    into.push({ range_list: [[i, i]], is_migrating: false, meta });
  }
  const one = (slot: number) => ({ range_list: [[slot, slot]] as const, tag: 'None' as const });
  chunks[0] = {
    ...chunks[0]!,
    stable_slots: [{ range_list: [[n, 16380]], tag: 'None' }, one(16381)],
    migrating_slots: [out, []],
  };
  chunks[1] = { ...chunks[1]!, stable_slots: [one(16382), one(16383)], migrating_slots: [into.reverse(), []] };
  return doc;
}

/** The bytes of a valid document holding `count` free proxies, about 150 bytes each: a large restore. */
export function freeProxiesDocument(count: number): Buffer {
  const proxies: Record<string, unknown> = {};
  for (let i = 0; i < count; i++) {
    const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:${7000 + (i >> 24)}`;
    proxies[address] = {
      proxy_address: address,
      node_addresses: [`${address}-a`, `${address}-b`],
      host: `host${i % 97}`,
      cluster: null,
    };
  }
  const document = {
    version: META_VERSION,
    global_epoch: 1,
    clusters: {},
    all_proxies: proxies,
    failed_proxies: [],
    failures: {},
  };
  return Buffer.from(JSON.stringify(document));
}
