/** `metabroker failures`, `failover`, `migrations ls` and `epoch show|bump|recover` against a real broker. */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { test } from 'node:test';
import type { ClusterView, MetaDocument } from '../../src/domain/types.js';
import { deadAddress } from '../helpers/ports.js';
import { apiOk, cli, cliOk, commitMigrations, loadDocument, oneClusterFleet, useFileBroker } from '../helpers/cli.js';
import { buildDocument } from '../helpers/documents.js';

const target = useFileBroker();
const args = target.args;

test('failures: the reported proxies with their cluster; -o json is GET /failures', async () => {
  await loadDocument(target.broker, oneClusterFleet());
  assert.equal(await cliOk(args('failures')), 'no proxy is reported failed\n');
  await apiOk(target.broker, 'POST', '/failures/127.0.0.1:7001/coordinatorA');
  await apiOk(target.broker, 'POST', '/failures/127.0.0.3:7003/coordinatorB');
  assert.equal(
    await cliOk(args('failures')),
    [
      'ADDRESS         CLUSTER  FAILED OVER',
      '127.0.0.1:7001  c1       no',
      '127.0.0.3:7003  -        no',
      '',
      'to replace a proxy in its cluster: metabroker failover ADDR',
      '',
    ].join('\n'),
  );
  assert.equal(await cliOk(args('failures', '-o', 'json')), `${await apiOk(target.broker, 'GET', '/failures')}\n`);
});

test('failover: the chunk peer takes over and a free proxy replaces the failed one', async () => {
  await loadDocument(target.broker, oneClusterFleet());
  await apiOk(target.broker, 'POST', '/failures/127.0.0.1:7001/coordinatorA');
  assert.equal(
    await cliOk(args('failover', '127.0.0.1:7001')),
    'failed over 127.0.0.1:7001: its chunk peer took over, and 127.0.0.3:7002 replaces it in cluster c1\n',
  );
  const view = (JSON.parse(await apiOk(target.broker, 'GET', '/clusters/meta/c1')) as { cluster: ClusterView }).cluster;
  assert.ok(view.nodes.some((n) => n.proxy_address === '127.0.0.3:7002'));
  assert.ok(!view.nodes.some((n) => n.proxy_address === '127.0.0.1:7001'));
  assert.equal(
    await cliOk(args('failures')),
    [
      'ADDRESS         CLUSTER  FAILED OVER',
      '127.0.0.1:7001  -        yes',
      '',
      'to replace a proxy in its cluster: metabroker failover ADDR',
      '',
    ].join('\n'),
  );
  assert.equal(
    await cliOk(args('failover', '127.0.0.3:7003')),
    'marked 127.0.0.3:7003 failed; it served no cluster, so nothing needed replacing\n',
  );
});

test('failover -o json prints the answer: the replacement proxy view', async () => {
  await loadDocument(target.broker, oneClusterFleet());
  const answer = JSON.parse(await cliOk(args('-o', 'json', 'failover', '127.0.0.2:7001'))) as {
    proxy: { address: string };
  };
  assert.equal(answer.proxy.address, '127.0.0.3:7002');
  // Once applied, the view the broker serves for the replacement is the one the failover answered.
  assert.deepEqual(answer, JSON.parse(await apiOk(target.broker, 'GET', '/proxies/meta/127.0.0.3:7002')));
});

test('failover without a free proxy: exit 1, and the message says the takeover stands', async () => {
  await loadDocument(
    target.broker,
    buildDocument({
      proxies: ['127.0.0.1:7001@h1', '127.0.0.2:7001@h2'],
      clusters: { c1: [['127.0.0.1:7001', '127.0.0.2:7001']] },
    }),
  );
  const r = await cli(args('failover', '127.0.0.1:7001'));
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    [
      'error: NO_AVAILABLE_RESOURCE: not enough free proxies (refused by the broker, HTTP 409; POST /api/v2/proxies/failover/127.0.0.1:7001)',
      '  broker says: 127.0.0.1:7001 is marked failed and its chunk peer took over its slots, but no free proxy could replace it; ' +
        'register one and run the failover again',
      'what to do: register more proxies (`metabroker proxies add`) or ask for fewer nodes; `metabroker status` counts free ones.',
      '',
    ].join('\n'),
  );
  const unknown = await cli(args('failover', '10.9.9.9:1'));
  assert.equal(unknown.code, 1);
  assert.ok(
    unknown.stderr.startsWith('error: PROXY_NOT_FOUND: no proxy at that address (refused by the broker, HTTP 404'),
    unknown.stderr,
  );
});

test('migrations ls: each migration in flight; -o wide adds count and nodes; -o json documented', async () => {
  await loadDocument(target.broker, oneClusterFleet());
  assert.equal(await cliOk(args('migrations', 'ls')), 'no migration in flight\n');
  assert.equal(await cliOk(args('migrations', 'ls', '-o', 'json')), '[]\n');
  await apiOk(target.broker, 'PATCH', '/clusters/nodes/c1', { node_number: 4 });
  await apiOk(target.broker, 'POST', '/clusters/migrations/expand/c1');
  assert.equal(
    await cliOk(args('migrations', 'ls')),
    [
      'CLUSTER  SLOTS      SOURCE          DESTINATION     EPOCH',
      'c1       2731-4095  127.0.0.1:7001  127.0.0.2:7002     12',
      '',
    ].join('\n'),
  );
  assert.equal(
    await cliOk(args('migrations', 'ls', '-o', 'wide')),
    [
      'CLUSTER  SLOTS      SOURCE          DESTINATION     EPOCH  COUNT  SOURCE NODE        DESTINATION NODE',
      'c1       2731-4095  127.0.0.1:7001  127.0.0.2:7002     12   1365  127.0.0.1:7001-n0  127.0.0.2:7002-n0',
      '',
    ].join('\n'),
  );
  const view = (JSON.parse(await apiOk(target.broker, 'GET', '/clusters/meta/c1')) as { cluster: ClusterView }).cluster;
  const tags = view.nodes.flatMap((n) =>
    n.slots.flatMap((s) =>
      s.tag !== 'None' && 'Migrating' in s.tag ? [{ range_list: s.range_list, ...s.tag.Migrating }] : [],
    ),
  );
  assert.deepEqual(
    JSON.parse(await cliOk(args('migrations', 'ls', '-o', 'json'))),
    tags.map((t) => ({ cluster: 'c1', ...t })),
  );
  assert.equal(tags.length, 1);

  // The coordinator commits; the next migration of the expand shows, then none.
  await apiOk(target.broker, 'PUT', '/clusters/migrations', {
    cluster_name: 'c1',
    slot_range: view.nodes[0]!.slots[1],
  });
  assert.equal(
    await cliOk(args('migrations', 'ls')),
    [
      'CLUSTER  SLOTS      SOURCE          DESTINATION     EPOCH',
      'c1       6827-8191  127.0.0.2:7001  127.0.0.2:7002     12',
      '',
    ].join('\n'),
  );
  await commitMigrations(target.broker, 'c1');
  assert.equal(await cliOk(args('migrations', 'ls')), 'no migration in flight\n');
});

test('epoch show and bump; a smaller epoch is refused with exit 1; a word exits 2', async () => {
  await loadDocument(target.broker, oneClusterFleet());
  assert.equal(await cliOk(args('epoch', 'show')), 'global epoch 10\n');
  assert.equal(await cliOk(args('epoch', 'show', '-o', 'json')), '{"global_epoch":10}\n');
  assert.equal(await cliOk(args('epoch', 'bump', '50')), 'global epoch set to 50\n');
  assert.equal((JSON.parse(await apiOk(target.broker, 'GET', '/metadata')) as MetaDocument).global_epoch, 50);
  assert.equal(await cliOk(args('-o', 'json', 'epoch', 'bump', '60')), '');

  const smaller = await cli(args('epoch', 'bump', '5'));
  assert.equal(smaller.code, 1);
  assert.equal(
    smaller.stderr,
    'error: EPOCH_SMALLER_THAN_CURRENT: the new epoch must be larger than the current one (refused by the broker, HTTP 409; PUT /api/v2/epoch/5)\n' +
      'what to do: give a number above the current global epoch (`metabroker epoch show`).\n',
  );
  const word = await cli(args('epoch', 'bump', 'ten'));
  assert.equal(word.code, 2);
});

test('epoch recover: asks the proxies, moves past the largest answer, names those that did not answer', async () => {
  // A stand-in proxy that answers UMCTL GETEPOCH with 500, and an address where nothing listens.
  const sockets = new Set<Socket>();
  const proxy = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', (chunk) => {
      if (chunk.toString('latin1').includes('GETEPOCH\r\n')) socket.write(':500\r\n');
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  try {
    const answering = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const silent = deadAddress();
    await loadDocument(target.broker, buildDocument({ proxies: [answering, silent] }));
    assert.equal(
      await cliOk(args('epoch', 'recover')),
      `epoch recovered: global epoch now 501; 1 did not answer: ${silent}\n`,
    );
    assert.equal(await cliOk(args('-o', 'json', 'epoch', 'recover')), `{"failed_addresses":["${silent}"]}\n`);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
  }
});
