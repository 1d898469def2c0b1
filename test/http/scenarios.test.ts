/**
 * Whole flows over HTTP, as an operator and the coordinators drive them:
 * the examples of docs/api.md, paging, a full expand and shrink, failover and a
 * restore of a document in undermoon's format.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  addProxies,
  call,
  enc,
  failsWith,
  metadataText,
  ok,
  okJson,
  proxyAddr,
  proxyBody,
  withServer,
} from '../helpers/http.js';
import type { TestServer } from '../helpers/http.js';

interface Meta {
  epoch: number;
  src_proxy_address: string;
  src_node_address: string;
  dst_proxy_address: string;
  dst_node_address: string;
}
type Tag = 'None' | { Migrating: Meta } | { Importing: Meta };
interface SlotRange {
  range_list: [number, number][];
  tag: Tag;
}
interface NodeView {
  address: string;
  proxy_address: string;
  cluster_name: string;
  slots: SlotRange[];
  repl: { role: 'master' | 'replica'; peers: { node_address: string; proxy_address: string }[] };
}
interface ClusterView {
  name: string;
  epoch: number;
  nodes: NodeView[];
  config: unknown;
}
interface ProxyView {
  address: string;
  epoch: number;
  nodes: NodeView[];
  free_nodes: string[];
  peers: { proxy_address: string; cluster_name: string; slots: SlotRange[] }[];
  clusters_config: Record<string, unknown>;
}

const DEFAULT_CONFIG = {
  compression_strategy: 'disabled',
  migration_config: { max_migration_time: 10800, max_blocking_time: 10000, scan_interval: 500, scan_count: 16 },
};

async function cluster(s: TestServer, name: string): Promise<ClusterView> {
  const answer = (await okJson(s, 'GET', `/clusters/meta/${name}`)) as { cluster: ClusterView };
  assert.deepEqual(Object.keys(answer), ['cluster']);
  return answer.cluster;
}

async function proxy(s: TestServer, address: string): Promise<ProxyView> {
  const answer = (await okJson(s, 'GET', `/proxies/meta/${enc(address)}`)) as { proxy: ProxyView };
  assert.deepEqual(Object.keys(answer), ['proxy']);
  return answer.proxy;
}

function tagKind(tag: Tag): string {
  return typeof tag === 'string' ? tag : Object.keys(tag)[0]!;
}

function slotCount(ranges: SlotRange[]): number {
  return ranges.reduce((n, r) => n + r.range_list.reduce((m, [a, b]) => m + b - a + 1, 0), 0);
}

/** Every slot held by exactly one master, nothing held by replicas, no migration left. */
function assertStable(view: ClusterView): void {
  const owner = new Array<number>(16384).fill(0);
  for (const node of view.nodes) {
    if (node.repl.role === 'replica') assert.deepEqual(node.slots, [], `replica ${node.address} holds no slots`);
    for (const range of node.slots) {
      assert.equal(range.tag, 'None');
      for (const [a, b] of range.range_list) for (let i = a; i <= b; i++) owner[i]! += 1;
    }
  }
  assert.ok(
    owner.every((n) => n === 1),
    'every slot has exactly one owner',
  );
}

/** The node addresses registered for each proxy by proxyBody(). */
function registeredNodes(address: string): [string, string] {
  const [host, port] = address.split(':') as [string, string];
  const index = Number(port) - 7000;
  return [`${host}:${6000 + index * 2}`, `${host}:${6000 + index * 2 + 1}`];
}

test('docs/api.md example: proxies with a host, an 8-node cluster, its cluster and proxy views in full', async () => {
  await withServer(async (s) => {
    await addProxies(s, 3, 2);
    await ok(s, 'POST', '/clusters/meta/mycluster', { node_number: 8 });
    const view = await cluster(s, 'mycluster');
    const epoch = (JSON.parse(await metadataText(s)) as { global_epoch: number }).global_epoch;
    assert.equal(view.epoch, epoch, 'a new cluster takes the new global epoch');

    // Rebuild the whole expected view from the two proxies of each chunk.
    assert.equal(view.nodes.length, 8);
    const chunks = [0, 1].map((c) => [view.nodes[c * 4]!.proxy_address, view.nodes[c * 4 + 2]!.proxy_address] as const);
    const ranges = [
      [0, 4095],
      [4096, 8191],
      [8192, 12287],
      [12288, 16383],
    ] as const;
    const expectedNodes: NodeView[] = chunks.flatMap(([first, second], c) => {
      const nodes = [...registeredNodes(first), ...registeredNodes(second)];
      const proxyOf = (i: number) => (i < 2 ? first : second);
      return nodes.map((address, i): NodeView => {
        const peer = 3 - i;
        const master = i % 2 === 0;
        const range = ranges[c * 2 + i / 2];
        return {
          address,
          proxy_address: proxyOf(i),
          cluster_name: 'mycluster',
          slots: master ? [{ range_list: [[range![0], range![1]]], tag: 'None' }] : [],
          repl: {
            role: master ? 'master' : 'replica',
            peers: [{ node_address: nodes[peer]!, proxy_address: proxyOf(peer) }],
          },
        };
      });
    });
    assert.deepEqual(view, { name: 'mycluster', epoch, nodes: expectedNodes, config: DEFAULT_CONFIG });

    // Each chunk spans two hosts; four distinct proxies serve the cluster.
    for (const [first, second] of chunks) assert.notEqual(first.split(':')[0], second.split(':')[0]);
    const members = chunks.flat();
    assert.equal(new Set(members).size, 4);

    for (const address of members) {
      const pv = await proxy(s, address);
      const masters = view.nodes.filter((n) => n.repl.role === 'master' && n.proxy_address !== address);
      const peers: ProxyView['peers'] = [];
      for (const m of masters) {
        const last = peers.at(-1);
        if (last && last.proxy_address === m.proxy_address) last.slots.push(...m.slots);
        else peers.push({ proxy_address: m.proxy_address, cluster_name: 'mycluster', slots: [...m.slots] });
      }
      assert.deepEqual(pv, {
        address,
        epoch,
        nodes: view.nodes.filter((n) => n.proxy_address === address),
        free_nodes: [],
        peers,
        clusters_config: { mycluster: DEFAULT_CONFIG },
      });
    }

    const all = (await okJson(s, 'GET', '/proxies/addresses')) as { addresses: string[] };
    for (const address of all.addresses.filter((a) => !members.includes(a))) {
      assert.deepEqual(await proxy(s, address), {
        address,
        epoch,
        nodes: [],
        free_nodes: registeredNodes(address),
        peers: [],
        clusters_config: {},
      });
    }
    assert.deepEqual(await okJson(s, 'GET', '/clusters/names'), { names: ['mycluster'] });
  });
});

test('paging: listings are in ascending byte order, and pages are complete and stable', async () => {
  await withServer(async (s) => {
    // Byte order, not numeric order: "10.0.0.10:" < "10.0.0.1:", "Z" < "_" < "z" < "~". Addresses are
    // printable ASCII; '#', '?' and '&' reach the broker percent-encoded and round-trip.
    // 14 proxies on two hosts: enough for the 7 clusters below.
    const addresses = [
      '10.0.0.2:7000',
      '10.0.0.10:7000',
      '10.0.0.1:7000',
      '9.0.0.1:7000',
      'z:1',
      '~:1',
      'a#?&:1',
      'Z_:1',
      ...['p5', 'p1', 'p3', 'p0', 'p4', 'p2'].map((p) => `${p}:1`),
    ];
    for (const [i, address] of addresses.entries()) {
      await ok(s, 'POST', '/proxies/meta', {
        proxy_address: address,
        nodes: [`n${i}:1`, `n${i}:2`],
        host: `h${i % 2}`,
      });
    }
    const sorted = [
      '10.0.0.10:7000',
      '10.0.0.1:7000',
      '10.0.0.2:7000',
      '9.0.0.1:7000',
      'Z_:1',
      'a#?&:1',
      'p0:1',
      'p1:1',
      'p2:1',
      'p3:1',
      'p4:1',
      'p5:1',
      'z:1',
      '~:1',
    ];
    assert.deepEqual(await okJson(s, 'GET', '/proxies/addresses'), { addresses: sorted });
    for (const address of addresses)
      assert.equal((await proxy(s, address)).address, address, 'addresses round-trip percent-encoded');

    const names = ['b', 'a', 'C', '_x', '-y', '@z', '9'];
    for (const name of names) await ok(s, 'POST', `/clusters/meta/${enc(name)}`, { node_number: 4 });
    const sortedNames = ['-y', '9', '@z', 'C', '_x', 'a', 'b'];
    assert.deepEqual(await okJson(s, 'GET', '/clusters/names'), { names: sortedNames });

    for (const [path, key, full] of [
      ['/proxies/addresses', 'addresses', sorted],
      ['/clusters/names', 'names', sortedNames],
    ] as const) {
      for (const limit of [1, 2, 3, 5, 100]) {
        const pages: string[] = [];
        for (let offset = 0; offset < full.length + limit; offset += limit) {
          const page = (
            (await okJson(s, 'GET', `${path}?offset=${offset}&limit=${limit}`)) as Record<string, string[]>
          )[key]!;
          assert.ok(page.length <= limit);
          assert.deepEqual(page, full.slice(offset, offset + limit));
          pages.push(...page);
        }
        assert.deepEqual(pages, full, `${path} limit ${limit}: pages join into the whole list`);
      }
      assert.deepEqual(await okJson(s, 'GET', `${path}?offset=3`), { [key]: full.slice(3) });
      assert.deepEqual(await okJson(s, 'GET', `${path}?limit=2`), { [key]: full.slice(0, 2) });
      assert.deepEqual(await okJson(s, 'GET', `${path}?limit=0`), { [key]: [] });
      assert.deepEqual(await okJson(s, 'GET', `${path}?offset=1000`), { [key]: [] });
    }
  });
});

/** Commits every migration the views show until none is left; returns how many. */
async function commitAll(s: TestServer, name: string): Promise<number> {
  let commits = 0;
  for (let round = 0; round < 100; round++) {
    const view = await cluster(s, name);
    const shown = view.nodes.flatMap((n) => n.slots.map((r) => ({ node: n, range: r })));
    const migrating = shown.filter(({ range }) => tagKind(range.tag) === 'Migrating');
    const importing = shown.filter(({ range }) => tagKind(range.tag) === 'Importing');
    assert.equal(migrating.length, importing.length, 'each migrating range has its importing side');
    if (migrating.length === 0) return commits;
    assert.ok(migrating.length <= 1, 'migration_limit 1: the views show one migration at a time');
    for (const { node, range } of migrating) {
      const meta = (range.tag as { Migrating: Meta }).Migrating;
      assert.equal(meta.src_node_address, node.address);
      assert.equal(meta.src_proxy_address, node.proxy_address);
      const dst = importing.find(({ range: r }) => JSON.stringify(r.range_list) === JSON.stringify(range.range_list));
      assert.ok(dst, 'the importing side shows the same ranges');
      assert.deepEqual(dst.range.tag, { Importing: meta });
      assert.equal(dst.node.address, meta.dst_node_address);
      await ok(s, 'PUT', '/clusters/migrations', { cluster_name: name, slot_range: range });
      commits += 1;
    }
  }
  assert.fail('migrations never finished');
}

test('migration: PATCH nodes, expand, commit every migrating range, then shrink back and drop the free nodes', async () => {
  await withServer(async (s) => {
    await addProxies(s, 4, 3);
    await ok(s, 'POST', '/clusters/meta/db', { node_number: 8 });
    const added = (await okJson(s, 'PATCH', '/clusters/nodes/db', { node_number: 8 })) as NodeView[];
    assert.equal(added.length, 8);
    await ok(s, 'POST', '/clusters/migrations/expand/db');
    const expandCommits = await commitAll(s, 'db');
    assert.ok(expandCommits >= 4, `every new master received slots (${expandCommits} commits)`);

    let view = await cluster(s, 'db');
    assert.equal(view.nodes.length, 16);
    assertStable(view);
    const masters = view.nodes.filter((n) => n.repl.role === 'master');
    assert.equal(masters.length, 8);
    for (const m of masters) assert.equal(slotCount(m.slots), 2048, `${m.address} holds its balanced share`);
    for (const node of added)
      assert.ok(
        view.nodes.some((n) => n.address === node.address),
        'the added nodes serve the cluster',
      );
    await failsWith(s, 'POST', '/clusters/migrations/expand/db', undefined, 409, 'SLOTS_ALREADY_EVEN');

    await ok(s, 'POST', '/clusters/migrations/shrink/db/8');
    const shrinkCommits = await commitAll(s, 'db');
    assert.ok(shrinkCommits >= 4);
    await ok(s, 'DELETE', '/clusters/free_nodes/db');
    view = await cluster(s, 'db');
    assert.equal(view.nodes.length, 8);
    assertStable(view);
    for (const m of view.nodes.filter((n) => n.repl.role === 'master')) assert.equal(slotCount(m.slots), 4096);
    const free = ((await okJson(s, 'GET', '/proxies/addresses')) as { addresses: string[] }).addresses.filter(
      (a) => !view.nodes.some((n) => n.proxy_address === a),
    );
    assert.equal(free.length, 8, 'the dropped chunks gave their proxies back');
  });
});

test('failover: the chunk peer takes over, a replacement from another host joins, and the answer is its view', async () => {
  await withServer(async (s) => {
    await addProxies(s, 4, 2);
    await ok(s, 'POST', '/clusters/meta/db', { node_number: 8 });
    const before = await cluster(s, 'db');
    const failed = before.nodes[0]!.proxy_address;
    const survivor = before.nodes[2]!.proxy_address;
    const slotsOfChunk = [before.nodes[0]!.slots, before.nodes[2]!.slots];
    await ok(s, 'POST', `/failures/${enc(failed)}/coordinator`);
    assert.deepEqual(await okJson(s, 'GET', '/failures'), { addresses: [failed] });

    const answer = (await okJson(s, 'POST', `/proxies/failover/${enc(failed)}`)) as { proxy: ProxyView };
    const replacement = answer.proxy.address;
    assert.notEqual(replacement, failed);
    assert.notEqual(replacement.split(':')[0], survivor.split(':')[0], 'never from the surviving proxy host');
    assert.deepEqual(answer.proxy, await proxy(s, replacement), 'the answer is the replacement proxy view');

    const after = await cluster(s, 'db');
    assert.ok(after.epoch > before.epoch);
    assert.equal(answer.proxy.epoch, after.epoch);
    assert.ok(!after.nodes.some((n) => n.proxy_address === failed), 'the failed proxy left the cluster');
    assert.deepEqual(
      after.nodes.slice(0, 2).map((n) => [n.address, n.proxy_address, n.repl.role, n.slots]),
      registeredNodes(replacement).map((a) => [a, replacement, 'replica', []]),
      'the replacement holds the failed proxy place as replicas',
    );
    assert.deepEqual(
      after.nodes.slice(2, 4).map((n) => [n.proxy_address, n.repl.role, n.slots]),
      [
        [survivor, 'master', slotsOfChunk[1]],
        [survivor, 'master', slotsOfChunk[0]],
      ],
      'the survivor masters both parts; part 0 moved to node 3, the replica of node 0',
    );
    assertStable(after);
    assert.deepEqual(await okJson(s, 'GET', '/proxies/failed/addresses'), { addresses: [failed] });
    assert.equal((await proxy(s, failed)).nodes.length, 0);

    // A repeated failover of the failed (now free) proxy just keeps it failed.
    assert.deepEqual(await okJson(s, 'POST', `/proxies/failover/${enc(failed)}`), { proxy: null });

    // Balancing hands mastership back to the healthy replacement.
    await ok(s, 'PUT', '/clusters/balance/db');
    const balanced = await cluster(s, 'db');
    assert.deepEqual(
      balanced.nodes.slice(0, 4).map((n) => n.repl.role),
      ['master', 'replica', 'master', 'replica'],
    );
    assert.deepEqual(balanced.nodes[0]!.slots, slotsOfChunk[0]);
    assertStable(balanced);
  });
});

test('failover without a free proxy: the takeover stands and the answer is NO_AVAILABLE_RESOURCE', async () => {
  await withServer(async (s) => {
    await addProxies(s, 2, 2);
    await ok(s, 'POST', '/clusters/meta/db', { node_number: 8 });
    const before = await cluster(s, 'db');
    const failed = before.nodes[4]!.proxy_address;
    const survivor = before.nodes[6]!.proxy_address;
    await failsWith(s, 'POST', `/proxies/failover/${enc(failed)}`, undefined, 409, 'NO_AVAILABLE_RESOURCE');
    const after = await cluster(s, 'db');
    assert.ok(after.epoch > before.epoch, 'the takeover is kept (docs/api.md#failover)');
    assert.deepEqual(await okJson(s, 'GET', '/proxies/failed/addresses'), { addresses: [failed] });
    assert.deepEqual(
      after.nodes.slice(4, 8).map((n) => [n.proxy_address, n.repl.role]),
      [
        [failed, 'replica'],
        [failed, 'replica'],
        [survivor, 'master'],
        [survivor, 'master'],
      ],
    );
    assertStable(after);
    // Coordinators retry every second; a repeated takeover resets nothing.
    await failsWith(s, 'POST', `/proxies/failover/${enc(failed)}`, undefined, 409, 'NO_AVAILABLE_RESOURCE');
    assert.equal((await cluster(s, 'db')).epoch, after.epoch);
    // Once a proxy is added, the next failover replaces the failed one.
    await ok(s, 'POST', '/proxies/meta', proxyBody(3, 1));
    const answer = (await okJson(s, 'POST', `/proxies/failover/${enc(failed)}`)) as { proxy: ProxyView };
    assert.equal(answer.proxy.address, proxyAddr(3, 1));
  });
});

/** Written by hand in undermoon's format: one chunk on two hosts, plus a free proxy. */
const UNDERMOON_DOCUMENT = {
  version: 'mem-broker-0.1',
  global_epoch: 9,
  clusters: {
    mydb: {
      epoch: 8,
      name: 'mydb',
      chunks: [
        {
          role_position: 'Normal',
          stable_slots: [
            { range_list: [[0, 8191]], tag: 'None' },
            { range_list: [[8192, 16383]], tag: 'None' },
          ],
          migrating_slots: [[], []],
          proxy_addresses: ['10.0.0.1:7000', '10.0.0.2:7000'],
          hosts: ['10.0.0.1', '10.0.0.2'],
          node_addresses: ['10.0.0.1:6000', '10.0.0.1:6001', '10.0.0.2:6000', '10.0.0.2:6001'],
        },
      ],
      config: {
        compression_strategy: 'disabled',
        migration_config: { max_migration_time: 10800, max_blocking_time: 10000, scan_interval: 500, scan_count: 16 },
      },
    },
  },
  all_proxies: {
    '10.0.0.1:7000': {
      proxy_address: '10.0.0.1:7000',
      node_addresses: ['10.0.0.1:6000', '10.0.0.1:6001'],
      host: '10.0.0.1',
      cluster: 'mydb',
    },
    '10.0.0.2:7000': {
      proxy_address: '10.0.0.2:7000',
      node_addresses: ['10.0.0.2:6000', '10.0.0.2:6001'],
      host: '10.0.0.2',
      cluster: 'mydb',
    },
    '10.0.0.3:7000': {
      proxy_address: '10.0.0.3:7000',
      node_addresses: ['10.0.0.3:6000', '10.0.0.3:6001'],
      host: '10.0.0.3',
      cluster: null,
    },
  },
  failed_proxies: [],
  failures: {},
};

test('restore: a document in undermoon format, then its cluster and proxy views', async () => {
  await withServer(async (s) => {
    await addProxies(s, 2, 1);
    await ok(s, 'PUT', '/metadata', UNDERMOON_DOCUMENT);
    assert.deepEqual(await okJson(s, 'GET', '/metadata'), UNDERMOON_DOCUMENT, 'the document reads back exactly');
    assert.deepEqual(await okJson(s, 'GET', '/proxies/addresses'), {
      addresses: ['10.0.0.1:7000', '10.0.0.2:7000', '10.0.0.3:7000'],
    });
    assert.deepEqual(await okJson(s, 'GET', '/clusters/names'), { names: ['mydb'] });

    const config = UNDERMOON_DOCUMENT.clusters.mydb.config;
    const p1 = '10.0.0.1:7000';
    const p2 = '10.0.0.2:7000';
    const nodes: NodeView[] = [
      {
        address: '10.0.0.1:6000',
        proxy_address: p1,
        cluster_name: 'mydb',
        slots: [{ range_list: [[0, 8191]], tag: 'None' }],
        repl: { role: 'master', peers: [{ node_address: '10.0.0.2:6001', proxy_address: p2 }] },
      },
      {
        address: '10.0.0.1:6001',
        proxy_address: p1,
        cluster_name: 'mydb',
        slots: [],
        repl: { role: 'replica', peers: [{ node_address: '10.0.0.2:6000', proxy_address: p2 }] },
      },
      {
        address: '10.0.0.2:6000',
        proxy_address: p2,
        cluster_name: 'mydb',
        slots: [{ range_list: [[8192, 16383]], tag: 'None' }],
        repl: { role: 'master', peers: [{ node_address: '10.0.0.1:6001', proxy_address: p1 }] },
      },
      {
        address: '10.0.0.2:6001',
        proxy_address: p2,
        cluster_name: 'mydb',
        slots: [],
        repl: { role: 'replica', peers: [{ node_address: '10.0.0.1:6000', proxy_address: p1 }] },
      },
    ];
    assert.deepEqual(await okJson(s, 'GET', '/clusters/meta/mydb'), {
      cluster: { name: 'mydb', epoch: 8, nodes, config },
    });
    assert.deepEqual(await okJson(s, 'GET', `/proxies/meta/${enc(p1)}`), {
      proxy: {
        address: p1,
        epoch: 8,
        nodes: nodes.slice(0, 2),
        free_nodes: [],
        peers: [{ proxy_address: p2, cluster_name: 'mydb', slots: [{ range_list: [[8192, 16383]], tag: 'None' }] }],
        clusters_config: { mydb: config },
      },
    });
    assert.deepEqual(await okJson(s, 'GET', `/proxies/meta/${enc(p2)}`), {
      proxy: {
        address: p2,
        epoch: 8,
        nodes: nodes.slice(2, 4),
        free_nodes: [],
        peers: [{ proxy_address: p1, cluster_name: 'mydb', slots: [{ range_list: [[0, 8191]], tag: 'None' }] }],
        clusters_config: { mydb: config },
      },
    });
    assert.deepEqual(await okJson(s, 'GET', '/proxies/meta/10.0.0.3%3A7000'), {
      proxy: {
        address: '10.0.0.3:7000',
        epoch: 9,
        nodes: [],
        free_nodes: ['10.0.0.3:6000', '10.0.0.3:6001'],
        peers: [],
        clusters_config: {},
      },
    });
    assert.deepEqual(
      await okJson(s, 'GET', `/proxies/meta/${enc(proxyAddr(1, 1))}`),
      { proxy: null },
      'the old store is gone',
    );

    // The restored broker works on: fail the first proxy over to the free one.
    const answer = (await okJson(s, 'POST', `/proxies/failover/${enc(p1)}`)) as { proxy: ProxyView };
    assert.equal(answer.proxy.address, '10.0.0.3:7000');
  });
});

test('restore: a document without config gets the default config', async () => {
  await withServer(async (s) => {
    const { config: _config, ...bare } = UNDERMOON_DOCUMENT.clusters.mydb;
    await ok(s, 'PUT', '/metadata', { ...UNDERMOON_DOCUMENT, clusters: { mydb: bare } });
    const view = (await okJson(s, 'GET', '/clusters/meta/mydb')) as { cluster: ClusterView };
    assert.deepEqual(view.cluster.config, DEFAULT_CONFIG);
    const a = await call(s, 'GET', '/metadata');
    assert.deepEqual((a.json as typeof UNDERMOON_DOCUMENT).clusters.mydb.config, DEFAULT_CONFIG);
  });
});
