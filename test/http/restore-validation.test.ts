/**
 * PUT /metadata with documents that parse and fit the schema but are
 * inconsistent: each is refused with 400 INVALID_REQUEST, a message naming
 * the problem, and nothing changed. A chunk with both proxies on one host
 * is accepted: undermoon's failover can produce one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChunkStore, MetaDocument, MigrationSlotRangeStore } from '../../src/domain/types.js';
import { buildDocument, cloneDocument, nodesOf } from '../helpers/documents.js';
import { addProxies, call, metadataText, ok, okJson, withServer } from '../helpers/http.js';
import type { TestServer } from '../helpers/http.js';

/** Cluster `c`: chunks h1:1+h2:1 and h3:1+h4:1, 4 masters of 4096 slots; h5:1 and h1:2 free. */
function base(): MetaDocument {
  return buildDocument({
    proxies: ['h1:1', 'h1:2', 'h2:1', 'h3:1', 'h4:1', 'h5:1'],
    clusters: {
      c: [
        ['h1:1', 'h2:1'],
        ['h3:1', 'h4:1'],
      ],
    },
    globalEpoch: 10,
  });
}

function chunk(doc: MetaDocument, index: number): ChunkStore {
  return doc.clusters.c!.chunks[index]!;
}

function setChunk(doc: MetaDocument, index: number, edit: (c: ChunkStore) => ChunkStore): MetaDocument {
  const cluster = doc.clusters.c!;
  doc.clusters.c = { ...cluster, chunks: cluster.chunks.map((c, i) => (i === index ? edit(c) : c)) };
  return doc;
}

/** Puts proxy `address` (a registered one) on side `side` of chunk `index`, with its host and nodes. */
function placeProxy(doc: MetaDocument, index: number, side: 0 | 1, address: string): MetaDocument {
  const host = doc.all_proxies[address]!.host;
  return setChunk(doc, index, (c) => {
    const proxies: [string, string] = [...c.proxy_addresses];
    const hosts: [string, string] = [...c.hosts];
    const nodes: [string, string, string, string] = [...c.node_addresses];
    proxies[side] = address;
    hosts[side] = host;
    [nodes[side * 2], nodes[side * 2 + 1]] = nodesOf(address);
    return { ...c, proxy_addresses: proxies, hosts, node_addresses: nodes };
  });
}

/** A migration of slots 4001..4095 from chunk 0 part 0 to chunk `dst` part 0, both sides stored. */
function withMigration(doc: MetaDocument, dst: number): MetaDocument {
  const meta = { epoch: 10, src_chunk_index: 0, src_chunk_part: 0, dst_chunk_index: dst, dst_chunk_part: 0 };
  const out: MigrationSlotRangeStore = { range_list: [[4001, 4095]], is_migrating: true, meta };
  const into: MigrationSlotRangeStore = { range_list: [[4001, 4095]], is_migrating: false, meta };
  setChunk(doc, 0, (c) => ({
    ...c,
    stable_slots: [{ range_list: [[0, 4000]], tag: 'None' }, c.stable_slots[1]],
    migrating_slots: [[out], c.migrating_slots[1]],
  }));
  if (dst < doc.clusters.c!.chunks.length)
    setChunk(doc, dst, (c) => ({ ...c, migrating_slots: [[into], c.migrating_slots[1]] }));
  return doc;
}

function renameCluster(doc: MetaDocument, name: string): MetaDocument {
  doc.clusters[name] = { ...doc.clusters.c!, name };
  delete doc.clusters.c;
  for (const p of Object.values(doc.all_proxies))
    if (p.cluster === 'c') doc.all_proxies[p.proxy_address] = { ...p, cluster: name };
  return doc;
}

const INCONSISTENT: {
  readonly name: string;
  readonly edit: (d: MetaDocument) => MetaDocument;
  readonly problem: RegExp;
}[] = [
  {
    name: 'a proxy in two chunks',
    edit: (d) => placeProxy(d, 1, 0, 'h1:1'),
    problem: /chunk 1: proxy h1:1 is also in cluster c chunk 0/,
  },
  {
    name: 'the same proxy on both sides of a chunk',
    edit: (d) => placeProxy(d, 0, 1, 'h1:1'),
    problem: /chunk 0: proxy h1:1 is also in cluster c chunk 0/,
  },
  {
    name: 'a chunk naming an unknown proxy',
    edit: (d) => {
      delete d.all_proxies['h4:1'];
      return d;
    },
    problem: /chunk 1: proxy h4:1 is not a known proxy/,
  },
  {
    name: 'overlapping slots',
    edit: (d) =>
      setChunk(d, 1, (c) => ({
        ...c,
        stable_slots: [{ range_list: [[4000, 12287]], tag: 'None' }, c.stable_slots[1]],
      })),
    problem: /slot 4000 is owned twice/,
  },
  {
    name: 'a slot part with no slots',
    edit: (d) => setChunk(d, 1, (c) => ({ ...c, stable_slots: [c.stable_slots[0], null] })),
    problem: /slot 12288 has no owner/,
  },
  {
    name: 'a gap between ranges',
    edit: (d) =>
      setChunk(d, 0, (c) => ({
        ...c,
        stable_slots: [
          {
            range_list: [
              [0, 99],
              [101, 4095],
            ],
            tag: 'None',
          },
          c.stable_slots[1],
        ],
      })),
    problem: /slot 100 has no owner/,
  },
  {
    name: 'a range past the last slot',
    edit: (d) =>
      setChunk(d, 1, (c) => ({
        ...c,
        stable_slots: [c.stable_slots[0], { range_list: [[12288, 16384]], tag: 'None' }],
      })),
    problem: /invalid range \[12288, 16384\]/,
  },
  {
    name: 'a cluster name with a space',
    edit: (d) => renameCluster(d, 'bad name'),
    problem: /cluster bad name: invalid cluster name/,
  },
  {
    name: 'a cluster name of 31 characters',
    edit: (d) => renameCluster(d, 'x'.repeat(31)),
    problem: /invalid cluster name/,
  },
  { name: 'an empty cluster name', edit: (d) => renameCluster(d, ''), problem: /invalid cluster name/ },
  {
    name: 'a cluster stored under another name',
    edit: (d) => {
      d.clusters.c = { ...d.clusters.c!, name: 'd' };
      return d;
    },
    problem: /cluster c: its record names d/,
  },
  {
    name: 'a proxy in a chunk that says it is free',
    edit: (d) => {
      d.all_proxies['h2:1'] = { ...d.all_proxies['h2:1']!, cluster: null };
      return d;
    },
    problem: /proxy h2:1 says its cluster is null/,
  },
  {
    name: 'a proxy in a chunk that names another cluster',
    edit: (d) => {
      d.all_proxies['h2:1'] = { ...d.all_proxies['h2:1']!, cluster: 'other' };
      return d;
    },
    problem: /proxy h2:1 says its cluster is other/,
  },
  {
    name: 'a free proxy that names a cluster it is not in',
    edit: (d) => {
      d.all_proxies['h5:1'] = { ...d.all_proxies['h5:1']!, cluster: 'c' };
      return d;
    },
    problem: /proxy h5:1: not in any chunk of cluster c/,
  },
  {
    name: 'a free proxy that names a missing cluster',
    edit: (d) => {
      d.all_proxies['h5:1'] = { ...d.all_proxies['h5:1']!, cluster: 'gone' };
      return d;
    },
    problem: /proxy h5:1: its cluster gone does not exist/,
  },
  {
    name: 'a migration naming a missing chunk',
    edit: (d) => withMigration(d, 7),
    problem: /chunk 0 part 0 has a migration naming a missing chunk part/,
  },
  {
    name: 'a migration naming a missing chunk part',
    edit: (d) => {
      withMigration(d, 1);
      return setChunk(d, 0, (c) => ({
        ...c,
        migrating_slots: [
          [{ ...c.migrating_slots[0][0]!, meta: { ...c.migrating_slots[0][0]!.meta, src_chunk_part: 2 } }],
          [],
        ],
      }));
    },
    problem: /missing chunk part/,
  },
  {
    name: 'a migration without its importing side',
    edit: (d) => setChunk(withMigration(d, 1), 1, (c) => ({ ...c, migrating_slots: [[], []] })),
    problem: /chunk 0 part 0 has a migration without its importing side/,
  },
  {
    name: 'chunk hosts that are not the proxies hosts',
    edit: (d) => setChunk(d, 0, (c) => ({ ...c, hosts: ['h9', c.hosts[1]] })),
    problem: /host of h1:1 is h1, the chunk says h9/,
  },
  {
    name: 'chunk nodes that are not the proxy nodes',
    edit: (d) =>
      setChunk(d, 0, (c) => ({
        ...c,
        node_addresses: [c.node_addresses[1], c.node_addresses[0], c.node_addresses[2], c.node_addresses[3]],
      })),
    problem: /node addresses of h1:1 differ from the proxy's/,
  },
];

/** A broker holding a different, valid state, so that "nothing changed" means something. */
async function seeded(s: TestServer): Promise<string> {
  await addProxies(s, 3, 2);
  await ok(s, 'POST', '/clusters/meta/live', { node_number: 4 });
  return metadataText(s);
}

test('the base document is consistent: it restores and reads back exactly', async () => {
  await withServer(async (s) => {
    await seeded(s);
    await ok(s, 'PUT', '/metadata', base());
    assert.deepEqual(await okJson(s, 'GET', '/metadata'), base());
    // And with a valid migration, the shape every migration case starts from.
    await ok(s, 'PUT', '/metadata', withMigration(base(), 1));
    assert.deepEqual(await okJson(s, 'GET', '/metadata'), withMigration(base(), 1));
  });
});

test('inconsistent documents: 400 INVALID_REQUEST naming the problem, nothing changed', async () => {
  await withServer(async (s) => {
    const before = await seeded(s);
    for (const c of INCONSISTENT) {
      const a = await call(s, 'PUT', '/metadata', c.edit(cloneDocument(base())));
      assert.equal(a.status, 400, `${c.name}: ${a.status} ${a.text}`);
      const body = a.json as { error: string; message: string };
      assert.deepEqual(Object.keys(body).sort(), ['error', 'message'], c.name);
      assert.equal(body.error, 'INVALID_REQUEST', c.name);
      assert.match(body.message, /^inconsistent metadata: /, c.name);
      assert.match(body.message, c.problem, c.name);
      assert.equal(await metadataText(s), before, `${c.name}: nothing changed`);
    }
  });
});

test('a chunk whose two proxies share a host is accepted (undermoon can produce one)', async () => {
  await withServer(async (s) => {
    await seeded(s);
    // h1:2 replaces h2:1: chunk 0 is then h1:1 + h1:2, both on host h1.
    const doc = placeProxy(base(), 0, 1, 'h1:2');
    doc.all_proxies['h1:2'] = { ...doc.all_proxies['h1:2']!, cluster: 'c' };
    doc.all_proxies['h2:1'] = { ...doc.all_proxies['h2:1']!, cluster: null };
    assert.deepEqual(chunk(doc, 0).hosts, ['h1', 'h1']);
    await ok(s, 'PUT', '/metadata', doc);
    assert.deepEqual(await okJson(s, 'GET', '/metadata'), doc);
    const view = (await okJson(s, 'GET', '/clusters/meta/c')) as { cluster: { nodes: { proxy_address: string }[] } };
    assert.deepEqual(
      view.cluster.nodes.slice(0, 4).map((n) => n.proxy_address),
      ['h1:1', 'h1:1', 'h1:2', 'h1:2'],
    );
  });
});
