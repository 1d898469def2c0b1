/**
 * Every route over a real socket in front of a LocalBackend: its success
 * answer and every error code it can answer, with exact status and body.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  addProxies,
  call,
  enc,
  fails,
  failsWith,
  invalidRequest,
  metadataText,
  ok,
  okJson,
  proxyAddr,
  proxyBody,
  withServer,
} from '../helpers/http.js';
import type { TestServer } from '../helpers/http.js';

interface Doc {
  global_epoch: number;
  clusters: Record<string, { epoch: number; chunks: unknown[]; config: unknown }>;
  all_proxies: Record<string, { cluster: string | null }>;
  failed_proxies: string[];
  failures: Record<string, Record<string, number>>;
}

async function doc(s: TestServer): Promise<Doc> {
  return JSON.parse(await metadataText(s)) as Doc;
}

interface NodeJson {
  address: string;
  proxy_address: string;
  cluster_name: string;
  slots: { range_list: [number, number][]; tag: unknown }[];
  repl: { role: string; peers: unknown[] };
}

async function clusterNodes(s: TestServer, name: string): Promise<NodeJson[]> {
  const view = (await okJson(s, 'GET', `/clusters/meta/${name}`)) as { cluster: { nodes: NodeJson[] } };
  return view.cluster.nodes;
}

const DEFAULT_CONFIG = {
  compression_strategy: 'disabled',
  migration_config: { max_migration_time: 10800, max_blocking_time: 10000, scan_interval: 500, scan_count: 16 },
};

test('GET /version answers 0.3.0 in plain text', async () => {
  await withServer(async (s) => {
    const a = await call(s, 'GET', '/version');
    assert.equal(a.status, 200);
    assert.equal(a.contentType, 'text/plain');
    assert.equal(a.text, '0.3.0');
  });
});

test('GET /metadata of an empty broker is the empty document (docs/metadata-format.md)', async () => {
  await withServer(async (s) => {
    assert.deepEqual(await okJson(s, 'GET', '/metadata'), {
      version: 'mem-broker-0.1',
      global_epoch: 0,
      clusters: {},
      all_proxies: {},
      failed_proxies: [],
      failures: {},
    });
  });
});

test('PUT /metadata: restores a document; other versions, bad shapes and inconsistent documents are refused', async () => {
  await withServer(async (s) => {
    const empty = {
      version: 'mem-broker-0.1',
      global_epoch: 7,
      clusters: {},
      all_proxies: {},
      failed_proxies: [],
      failures: {},
    };
    await ok(s, 'PUT', '/metadata', empty);
    assert.deepEqual(await okJson(s, 'GET', '/metadata'), empty);
    await failsWith(s, 'PUT', '/metadata', { ...empty, version: 'mem-broker-0.2' }, 409, 'INVALID_META_VERSION');
    await invalidRequest(s, 'PUT', '/metadata', { ...empty, global_epoch: -1 }, 'global_epoch');
    await invalidRequest(s, 'PUT', '/metadata', { ...empty, failed_proxies: undefined }, 'failed_proxies: is required');
    await invalidRequest(s, 'PUT', '/metadata', '{"version":', 'malformed JSON');
    const mismatched = {
      ...empty,
      all_proxies: { 'a:1': { proxy_address: 'b:1', node_addresses: ['b:2', 'b:3'], host: 'b', cluster: null } },
    };
    await invalidRequest(s, 'PUT', '/metadata', mismatched, 'inconsistent metadata');
    assert.deepEqual(await okJson(s, 'GET', '/metadata'), empty, 'refused documents changed nothing');
  });
});

test('POST /proxies/meta and DELETE /proxies/meta/<address>', async () => {
  await withServer(async (s) => {
    await ok(s, 'POST', '/proxies/meta', proxyBody(1, 1));
    await ok(s, 'POST', '/proxies/meta', {
      proxy_address: '127.0.0.9:7000',
      nodes: ['127.0.0.9:6000', '127.0.0.9:6001'],
      host: null,
    });
    const d = await doc(s);
    assert.deepEqual(d.all_proxies[proxyAddr(1, 1)], {
      proxy_address: proxyAddr(1, 1),
      node_addresses: proxyBody(1, 1).nodes,
      host: 'host1',
      cluster: null,
    });
    assert.deepEqual(d.all_proxies['127.0.0.9:7000'], {
      proxy_address: '127.0.0.9:7000',
      node_addresses: ['127.0.0.9:6000', '127.0.0.9:6001'],
      host: '127.0.0.9',
      cluster: null,
    });

    await failsWith(
      s,
      'POST',
      '/proxies/meta',
      { proxy_address: 'no-port', nodes: ['a', 'b'] },
      400,
      'INVALID_PROXY_ADDRESS',
    );
    await failsWith(
      s,
      'POST',
      '/proxies/meta',
      { proxy_address: 'a:1:2', nodes: ['a', 'b'] },
      400,
      'INVALID_PROXY_ADDRESS',
    );
    // No host before the ':': the proxy's host would be empty, which a restore of the document refuses.
    await failsWith(
      s,
      'POST',
      '/proxies/meta',
      { proxy_address: ':7000', nodes: ['a', 'b'] },
      400,
      'INVALID_PROXY_ADDRESS',
    );
    await invalidRequest(s, 'POST', '/proxies/meta', { proxy_address: 'a:1' }, 'nodes: is required');
    await invalidRequest(s, 'POST', '/proxies/meta', { proxy_address: 'a:1', nodes: ['a:2', 'a:3'], host: 1 }, 'host');

    // Re-adding marks the proxy recovered: an error whose change stands (docs/api.md#a-failed-request-changes-nothing).
    assert.deepEqual(await okJson(s, 'POST', `/proxies/failover/${enc(proxyAddr(1, 1))}`), { proxy: null });
    const before = await doc(s);
    assert.deepEqual(before.failed_proxies, [proxyAddr(1, 1)]);
    await failsWith(s, 'POST', '/proxies/meta', proxyBody(1, 1), 409, 'ALREADY_EXISTED');
    const after = await doc(s);
    assert.deepEqual(after.failed_proxies, []);
    assert.ok(after.global_epoch > before.global_epoch);

    await ok(s, 'DELETE', `/proxies/meta/${enc(proxyAddr(1, 1))}`);
    assert.equal((await doc(s)).all_proxies[proxyAddr(1, 1)], undefined);
    await failsWith(s, 'DELETE', `/proxies/meta/${enc(proxyAddr(1, 1))}`, undefined, 404, 'PROXY_NOT_FOUND');

    await addProxies(s, 2, 1);
    await ok(s, 'POST', '/clusters/meta/db', { node_number: 4 });
    const member = Object.entries((await doc(s)).all_proxies).find(([, p]) => p.cluster === 'db')![0];
    await failsWith(s, 'DELETE', `/proxies/meta/${enc(member)}`, undefined, 409, 'IN_USE');
  });
});

test('GET /proxies/meta/<address>: a free proxy, and an unknown one', async () => {
  await withServer(async (s) => {
    await addProxies(s, 1, 1);
    const epoch = (await doc(s)).global_epoch;
    assert.deepEqual(await okJson(s, 'GET', `/proxies/meta/${enc(proxyAddr(1, 1))}`), {
      proxy: {
        address: proxyAddr(1, 1),
        epoch,
        nodes: [],
        free_nodes: proxyBody(1, 1).nodes,
        peers: [],
        clusters_config: {},
      },
    });
    assert.deepEqual(await okJson(s, 'GET', '/proxies/meta/10.9.9.9:1'), { proxy: null });
  });
});

test('POST /clusters/meta/<name> and DELETE /clusters/meta/<name>', async () => {
  await withServer(async (s) => {
    await addProxies(s, 3, 2);
    await ok(s, 'POST', '/clusters/meta/db', { node_number: 4, unknown_field: true });
    const d = await doc(s);
    assert.equal(d.clusters.db!.chunks.length, 1);
    assert.deepEqual(d.clusters.db!.config, DEFAULT_CONFIG);

    await failsWith(s, 'POST', '/clusters/meta/db', { node_number: 4 }, 409, 'ALREADY_EXISTED');
    await failsWith(s, 'POST', '/clusters/meta/bad!name', { node_number: 4 }, 400, 'INVALID_CLUSTER_NAME');
    await failsWith(s, 'POST', `/clusters/meta/${'x'.repeat(31)}`, { node_number: 4 }, 400, 'INVALID_CLUSTER_NAME');
    for (const n of [0, 6])
      await failsWith(s, 'POST', '/clusters/meta/other', { node_number: n }, 400, 'INVALID_NODE_NUMBER');
    await failsWith(s, 'POST', '/clusters/meta/other', { node_number: 400 }, 409, 'NO_AVAILABLE_RESOURCE');
    await invalidRequest(s, 'POST', '/clusters/meta/other', { node_number: '4' }, 'node_number');
    await invalidRequest(s, 'POST', '/clusters/meta/other', { node_number: 4.5 }, 'node_number');
    await invalidRequest(s, 'POST', '/clusters/meta/other', {}, 'node_number: is required');
    await invalidRequest(s, 'POST', '/clusters/meta/other', '{"node_number": 8,}', 'malformed JSON');

    await ok(s, 'POST', `/clusters/meta/${'x'.repeat(30)}`, { node_number: 4 });
    await ok(s, 'DELETE', '/clusters/meta/db');
    assert.equal((await doc(s)).clusters.db, undefined);
    assert.deepEqual(await okJson(s, 'GET', '/clusters/meta/db'), { cluster: null });
    await failsWith(s, 'DELETE', '/clusters/meta/db', undefined, 404, 'CLUSTER_NOT_FOUND');
    await failsWith(s, 'DELETE', '/clusters/meta/bad!name', undefined, 400, 'INVALID_CLUSTER_NAME');
  });
});

test('PATCH /clusters/nodes/<name> answers the nodes it added', async () => {
  await withServer(async (s) => {
    await addProxies(s, 3, 2);
    await ok(s, 'POST', '/clusters/meta/db', { node_number: 4 });
    const added = (await okJson(s, 'PATCH', '/clusters/nodes/db', { node_number: 4 })) as NodeJson[];
    assert.equal(added.length, 4);
    const nodes = await clusterNodes(s, 'db');
    assert.deepEqual(added, nodes.slice(4), 'the answer is the new chunk as the cluster view shows it');
    for (const node of added) assert.deepEqual(node.slots, []);

    await failsWith(s, 'PATCH', '/clusters/nodes/nope', { node_number: 4 }, 404, 'CLUSTER_NOT_FOUND');
    await failsWith(s, 'PATCH', '/clusters/nodes/bad!name', { node_number: 4 }, 400, 'INVALID_CLUSTER_NAME');
    await failsWith(s, 'PATCH', '/clusters/nodes/db', { node_number: 3 }, 400, 'INVALID_NODE_NUMBER');
    // Counts are unsigned, as in undermoon: a sign is malformed input, refused before any rule runs.
    await invalidRequest(s, 'PATCH', '/clusters/nodes/db', { node_number: -4 }, 'node_number');
    await invalidRequest(s, 'POST', '/clusters/meta/neg', { node_number: -4 }, 'node_number');
    await invalidRequest(s, 'PUT', '/clusters/nodes/db', { cluster_node_number: -4 }, 'cluster_node_number');
    await invalidRequest(s, 'POST', '/clusters/migrations/shrink/db/-4', undefined, 'node_number');
    await failsWith(s, 'PATCH', '/clusters/nodes/db', { node_number: 40 }, 409, 'NO_AVAILABLE_RESOURCE');
    await invalidRequest(s, 'PATCH', '/clusters/nodes/db', { cluster_node_number: 4 }, 'node_number: is required');
    await ok(s, 'POST', '/clusters/migrations/expand/db');
    await failsWith(s, 'PATCH', '/clusters/nodes/db', { node_number: 4 }, 409, 'MIGRATION_RUNNING');
  });
});

test('PUT /clusters/nodes/<name> grows to a node count, or says it is already enough', async () => {
  await withServer(async (s) => {
    await addProxies(s, 3, 3);
    await ok(s, 'POST', '/clusters/meta/db', { node_number: 4 });
    await failsWith(s, 'PUT', '/clusters/nodes/db', { cluster_node_number: 4 }, 409, 'NODE_NUM_ALREADY_ENOUGH');
    await failsWith(s, 'PUT', '/clusters/nodes/db', { cluster_node_number: 2 }, 409, 'NODE_NUM_ALREADY_ENOUGH');
    const added = (await okJson(s, 'PUT', '/clusters/nodes/db', { cluster_node_number: 12 })) as NodeJson[];
    assert.equal(added.length, 8);
    assert.equal((await clusterNodes(s, 'db')).length, 12);
    await failsWith(s, 'PUT', '/clusters/nodes/db', { cluster_node_number: 14 }, 400, 'INVALID_NODE_NUMBER');
    await failsWith(s, 'PUT', '/clusters/nodes/db', { cluster_node_number: 400 }, 409, 'NO_AVAILABLE_RESOURCE');
    await failsWith(s, 'PUT', '/clusters/nodes/nope', { cluster_node_number: 8 }, 404, 'CLUSTER_NOT_FOUND');
    await failsWith(s, 'PUT', '/clusters/nodes/bad!name', { cluster_node_number: 8 }, 400, 'INVALID_CLUSTER_NAME');
    await invalidRequest(s, 'PUT', '/clusters/nodes/db', { node_number: 16 }, 'cluster_node_number: is required');
    await ok(s, 'POST', '/clusters/migrations/expand/db');
    await failsWith(s, 'PUT', '/clusters/nodes/db', { cluster_node_number: 16 }, 409, 'MIGRATION_RUNNING');
  });
});

test('DELETE /clusters/free_nodes/<name> drops the chunks without slots', async () => {
  await withServer(async (s) => {
    await addProxies(s, 3, 2);
    await ok(s, 'POST', '/clusters/meta/db', { node_number: 4 });
    await failsWith(s, 'DELETE', '/clusters/free_nodes/db', undefined, 409, 'FREE_NODE_NOT_FOUND');
    await okJson(s, 'PATCH', '/clusters/nodes/db', { node_number: 4 });
    await ok(s, 'DELETE', '/clusters/free_nodes/db');
    assert.equal((await clusterNodes(s, 'db')).length, 4);
    await failsWith(s, 'DELETE', '/clusters/free_nodes/nope', undefined, 404, 'CLUSTER_NOT_FOUND');
    await failsWith(s, 'DELETE', '/clusters/free_nodes/bad!name', undefined, 400, 'INVALID_CLUSTER_NAME');
    await okJson(s, 'PATCH', '/clusters/nodes/db', { node_number: 4 });
    await ok(s, 'POST', '/clusters/migrations/expand/db');
    await failsWith(s, 'DELETE', '/clusters/free_nodes/db', undefined, 409, 'MIGRATION_RUNNING');
  });
});

test('POST /clusters/migrations/expand/<name>', async () => {
  await withServer(async (s) => {
    await addProxies(s, 3, 2);
    await ok(s, 'POST', '/clusters/meta/db', { node_number: 4 });
    await failsWith(s, 'POST', '/clusters/migrations/expand/db', undefined, 409, 'SLOTS_ALREADY_EVEN');
    await okJson(s, 'PATCH', '/clusters/nodes/db', { node_number: 4 });
    await ok(s, 'POST', '/clusters/migrations/expand/db');
    const tags = (await clusterNodes(s, 'db')).flatMap((n) =>
      n.slots.map((r) => (typeof r.tag === 'string' ? r.tag : Object.keys(r.tag as object)[0])),
    );
    assert.ok(
      tags.includes('Migrating') && tags.includes('Importing'),
      `the view shows the migration: ${tags.join(',')}`,
    );
    await failsWith(s, 'POST', '/clusters/migrations/expand/db', undefined, 409, 'MIGRATION_RUNNING');
    await failsWith(s, 'POST', '/clusters/migrations/expand/nope', undefined, 404, 'CLUSTER_NOT_FOUND');
    await failsWith(s, 'POST', '/clusters/migrations/expand/bad!name', undefined, 400, 'INVALID_CLUSTER_NAME');
  });
});

test('POST /clusters/migrations/shrink/<name>/<node_number>', async () => {
  await withServer(async (s) => {
    await addProxies(s, 3, 3);
    await ok(s, 'POST', '/clusters/meta/db', { node_number: 8 });
    for (const n of ['8', '12', '3', '0']) {
      await failsWith(s, 'POST', `/clusters/migrations/shrink/db/${n}`, undefined, 400, 'INVALID_NODE_NUMBER');
    }
    await invalidRequest(s, 'POST', '/clusters/migrations/shrink/db/four', undefined, 'node_number');
    await invalidRequest(s, 'POST', '/clusters/migrations/shrink/db/-4', undefined, 'node_number');
    await invalidRequest(s, 'POST', '/clusters/migrations/shrink/db/4.0', undefined, 'node_number');
    await failsWith(s, 'POST', '/clusters/migrations/shrink/nope/4', undefined, 404, 'CLUSTER_NOT_FOUND');
    await failsWith(s, 'POST', '/clusters/migrations/shrink/bad!name/4', undefined, 400, 'INVALID_CLUSTER_NAME');
    await ok(s, 'POST', '/clusters/migrations/shrink/db/4');
    // The emptied chunk now has no stable slots, which shrink refuses first.
    await failsWith(s, 'POST', '/clusters/migrations/shrink/db/4', undefined, 409, 'FREE_NODE_FOUND');
  });
});

test('PUT /clusters/migrations: refusals', async () => {
  await withServer(async (s) => {
    await addProxies(s, 3, 2);
    await ok(s, 'POST', '/clusters/meta/db', { node_number: 4 });
    await okJson(s, 'PATCH', '/clusters/nodes/db', { node_number: 4 });
    await ok(s, 'POST', '/clusters/migrations/expand/db');
    const migrating = (await clusterNodes(s, 'db'))
      .flatMap((n) => n.slots)
      .find((r) => typeof r.tag === 'object' && 'Migrating' in (r.tag as object))!;
    assert.ok(migrating);
    const body = (slot_range: unknown, cluster_name = 'db') => ({ cluster_name, slot_range });
    await failsWith(
      s,
      'PUT',
      '/clusters/migrations',
      body({ range_list: migrating.range_list, tag: 'None' }),
      400,
      'INVALID_MIGRATION_TASK',
    );
    const tag = migrating.tag as { Migrating: { epoch: number } };
    const stale = { ...migrating, tag: { Migrating: { ...tag.Migrating, epoch: tag.Migrating.epoch + 100 } } };
    await failsWith(s, 'PUT', '/clusters/migrations', body(stale), 404, 'MIGRATION_TASK_NOT_FOUND');
    await failsWith(
      s,
      'PUT',
      '/clusters/migrations',
      body({ ...migrating, range_list: [[0, 0]] }),
      404,
      'MIGRATION_TASK_NOT_FOUND',
    );
    await failsWith(s, 'PUT', '/clusters/migrations', body(migrating, 'nope'), 404, 'CLUSTER_NOT_FOUND');
    await failsWith(s, 'PUT', '/clusters/migrations', body(migrating, 'bad!name'), 400, 'INVALID_CLUSTER_NAME');
    await invalidRequest(s, 'PUT', '/clusters/migrations', { cluster_name: 'db' }, 'slot_range: is required');
    await invalidRequest(
      s,
      'PUT',
      '/clusters/migrations',
      body({ range_list: [[1]], tag: 'None' }),
      'slot_range.range_list[0]',
    );
    await ok(s, 'PUT', '/clusters/migrations', body(migrating));
    await failsWith(s, 'PUT', '/clusters/migrations', body(migrating), 404, 'MIGRATION_TASK_NOT_FOUND');
  });
});

test('PATCH /clusters/config/<name>', async () => {
  await withServer(async (s) => {
    await addProxies(s, 2, 1);
    await ok(s, 'POST', '/clusters/meta/db', { node_number: 4 });
    await ok(s, 'PATCH', '/clusters/config/db', {
      compression_strategy: 'set_get_only',
      migration_scan_count: 32,
      migration_max_blocking_time: '2000',
    });
    const view = (await okJson(s, 'GET', '/clusters/meta/db')) as { cluster: { config: unknown } };
    assert.deepEqual(view.cluster.config, {
      compression_strategy: 'set_get_only',
      migration_config: { max_migration_time: 10800, max_blocking_time: 2000, scan_interval: 500, scan_count: 32 },
    });
    const invalidConfig = (key: string, value: string, message: string) => ({
      error: 'INVALID_CONFIG',
      key,
      value,
      message,
    });
    await fails(
      s,
      'PATCH',
      '/clusters/config/db',
      { compression_strategy: 'zip' },
      409,
      invalidConfig('compression_strategy', 'zip', 'INVALID_VALUE'),
    );
    await fails(
      s,
      'PATCH',
      '/clusters/config/db',
      { migration_scan_count: 0 },
      409,
      invalidConfig('migration_scan_count', '0', 'INVALID_VALUE'),
    );
    await fails(
      s,
      'PATCH',
      '/clusters/config/db',
      { migration_scan_count: -1 },
      409,
      invalidConfig('migration_scan_count', '-1', 'INVALID_VALUE'),
    );
    await fails(
      s,
      'PATCH',
      '/clusters/config/db',
      { replicas: '3' },
      409,
      invalidConfig('replicas', '3', 'FIELD_NOT_FOUND'),
    );
    await failsWith(
      s,
      'PATCH',
      '/clusters/config/nope',
      { compression_strategy: 'disabled' },
      404,
      'CLUSTER_NOT_FOUND',
    );
    await failsWith(
      s,
      'PATCH',
      '/clusters/config/bad!name',
      { compression_strategy: 'disabled' },
      400,
      'INVALID_CLUSTER_NAME',
    );
    await invalidRequest(
      s,
      'PATCH',
      '/clusters/config/db',
      { compression_strategy: ['disabled'] },
      'compression_strategy',
    );
    await invalidRequest(s, 'PATCH', '/clusters/config/db', '["compression_strategy"]', 'body');
  });
});

test('PUT /clusters/balance/<name>', async () => {
  await withServer(async (s) => {
    await addProxies(s, 2, 1);
    await ok(s, 'POST', '/clusters/meta/db', { node_number: 4 });
    const before = (await doc(s)).global_epoch;
    await ok(s, 'PUT', '/clusters/balance/db');
    const after = await doc(s);
    assert.ok(after.global_epoch > before, 'a balanced cluster still bumps the epoch, as the reference does');
    assert.equal(after.clusters.db!.epoch, after.global_epoch);
    await failsWith(s, 'PUT', '/clusters/balance/nope', undefined, 404, 'CLUSTER_NOT_FOUND');
    await failsWith(s, 'PUT', '/clusters/balance/bad!name', undefined, 400, 'INVALID_CLUSTER_NAME');
  });
});

test('POST /failures/<address>/<reporter> and GET /failures', async () => {
  await withServer(async (s) => {
    await addProxies(s, 2, 1);
    assert.deepEqual(await okJson(s, 'GET', '/failures'), { addresses: [] });
    await ok(s, 'POST', `/failures/${enc(proxyAddr(2, 1))}/coordinator-1`);
    await ok(s, 'POST', `/failures/${enc('10.9.9.9:1')}/coordinator-1`);
    assert.deepEqual(
      await okJson(s, 'GET', '/failures'),
      { addresses: [proxyAddr(2, 1)] },
      'only known proxies are listed',
    );
    const failures = (await doc(s)).failures;
    assert.deepEqual(
      Object.keys(failures),
      [proxyAddr(2, 1)],
      'reports on unknown addresses are answered but not stored',
    );
    const at = failures[proxyAddr(2, 1)]!['coordinator-1']!;
    assert.ok(Math.abs(at - Date.now() / 1000) < 60, 'the report time is now, in seconds');
  });
});

test('POST /proxies/failover/<address>: a free proxy fails with {"proxy": null}; an unknown one is not found', async () => {
  await withServer(async (s) => {
    await addProxies(s, 2, 1);
    assert.deepEqual(await okJson(s, 'GET', '/proxies/failed/addresses'), { addresses: [] });
    assert.deepEqual(await okJson(s, 'POST', `/proxies/failover/${enc(proxyAddr(1, 1))}`), { proxy: null });
    assert.deepEqual(await okJson(s, 'GET', '/proxies/failed/addresses'), { addresses: [proxyAddr(1, 1)] });
    await failsWith(s, 'POST', '/proxies/failover/10.9.9.9:1', undefined, 404, 'PROXY_NOT_FOUND');
  });
});

test('POST /resources/failures/check lists the hosts whose loss cannot be absorbed', async () => {
  await withServer(async (s) => {
    // Two members on two hosts and one free proxy on a third: either member host can fail.
    await addProxies(s, 3, 1);
    assert.deepEqual(await okJson(s, 'POST', '/resources/failures/check'), { hosts_cannot_fail: [] });
    await ok(s, 'POST', '/clusters/meta/db', { node_number: 4 });
    const before = await metadataText(s);
    assert.deepEqual(await okJson(s, 'POST', '/resources/failures/check'), { hosts_cannot_fail: [] });
    assert.equal(await metadataText(s), before, 'the what-if changes nothing');
  });
  await withServer(async (s) => {
    // No free proxy at all: neither host can fail.
    await addProxies(s, 2, 1);
    await ok(s, 'POST', '/clusters/meta/db', { node_number: 4 });
    assert.deepEqual(await okJson(s, 'POST', '/resources/failures/check'), { hosts_cannot_fail: ['host1', 'host2'] });
  });
});

test('PUT /epoch/<new_epoch> forces every epoch up; never down', async () => {
  await withServer(async (s) => {
    await addProxies(s, 2, 1);
    await ok(s, 'POST', '/clusters/meta/db', { node_number: 4 });
    await ok(s, 'PUT', '/epoch/100');
    const d = await doc(s);
    assert.equal(d.global_epoch, 100);
    assert.equal(d.clusters.db!.epoch, 100);
    await failsWith(s, 'PUT', '/epoch/100', undefined, 409, 'EPOCH_SMALLER_THAN_CURRENT');
    await failsWith(s, 'PUT', '/epoch/3', undefined, 409, 'EPOCH_SMALLER_THAN_CURRENT');
    await invalidRequest(s, 'PUT', '/epoch/ten', undefined, 'new_epoch');
    await invalidRequest(s, 'PUT', '/epoch/-1', undefined, 'new_epoch');
    await invalidRequest(s, 'PUT', '/epoch/1e3', undefined, 'new_epoch');
    await invalidRequest(s, 'PUT', '/epoch/99999999999999999999', undefined, 'new_epoch');
  });
});

test('PUT /epoch/recovery without an epoch fetcher: every proxy failed, epochs move past the broker', async () => {
  await withServer(async (s) => {
    await addProxies(s, 2, 1);
    await ok(s, 'POST', '/clusters/meta/db', { node_number: 4 });
    const before = (await doc(s)).global_epoch;
    assert.deepEqual(await okJson(s, 'PUT', '/epoch/recovery'), {
      failed_addresses: [proxyAddr(1, 1), proxyAddr(2, 1)],
    });
    const d = await doc(s);
    assert.equal(d.global_epoch, before + 1);
    assert.equal(d.clusters.db!.epoch, before + 1);
  });
});

test('PUT /epoch/recovery with an epoch fetcher: past the largest proxy epoch', async () => {
  const asked: string[][] = [];
  await withServer(
    async (s) => {
      await addProxies(s, 2, 1);
      assert.deepEqual(await okJson(s, 'PUT', '/epoch/recovery'), { failed_addresses: [proxyAddr(2, 1)] });
      assert.deepEqual(asked, [[proxyAddr(1, 1), proxyAddr(2, 1)]]);
      assert.equal((await doc(s)).global_epoch, 501);
    },
    {
      fetchProxyEpochs: async (addresses) => {
        asked.push(addresses);
        return { largest: 500, failed: addresses.slice(1) };
      },
    },
  );
});

test('a failed request changes nothing', async () => {
  await withServer(async (s) => {
    await addProxies(s, 3, 2);
    await ok(s, 'POST', '/clusters/meta/db', { node_number: 4 });
    await ok(s, 'POST', '/clusters/meta/full', { node_number: 4 });
    await okJson(s, 'PATCH', '/clusters/nodes/db', { node_number: 4 });
    await ok(s, 'POST', `/failures/${enc(proxyAddr(1, 1))}/c1`);
    const before = await metadataText(s);
    const attempts: [string, string, unknown][] = [
      ['POST', '/clusters/meta/db', { node_number: 4 }],
      ['POST', '/clusters/meta/new', { node_number: 40 }],
      ['POST', '/clusters/meta/new', { node_number: 6 }],
      ['POST', '/clusters/meta/bad!name', { node_number: 4 }],
      ['DELETE', '/clusters/meta/nope', undefined],
      ['PATCH', '/clusters/nodes/db', { node_number: 40 }],
      ['PUT', '/clusters/nodes/db', { cluster_node_number: 8 }],
      ['DELETE', '/clusters/free_nodes/full', undefined],
      ['POST', '/clusters/migrations/shrink/db/4', undefined],
      ['POST', '/clusters/migrations/expand/full', undefined],
      ['PATCH', '/clusters/config/db', { compression_strategy: 'disabled', migration_scan_count: 'many' }],
      ['PUT', '/clusters/balance/nope', undefined],
      ['POST', '/proxies/meta', { proxy_address: 'bad', nodes: ['a', 'b'] }],
      ['DELETE', `/proxies/meta/${enc(proxyAddr(9, 9))}`, undefined],
      ['POST', '/proxies/failover/10.9.9.9:1', undefined],
      ['PUT', '/clusters/migrations', { cluster_name: 'db', slot_range: { range_list: [[0, 1]], tag: 'None' } }],
      ['PUT', '/epoch/1', undefined],
      [
        'PUT',
        '/metadata',
        { version: 'mem-broker-0.2', global_epoch: 0, clusters: {}, all_proxies: {}, failed_proxies: [], failures: {} },
      ],
      ['PUT', '/metadata', '{'],
      ['POST', '/clusters/meta/x', '{"node_number":'],
    ];
    for (const [method, path, body] of attempts) {
      const a = await call(s, method, path, body);
      assert.ok(a.status >= 400, `${method} ${path} failed (${a.status} ${a.text})`);
      assert.equal(await metadataText(s), before, `${method} ${path} changed nothing`);
    }
  });
});
