/** `metabroker proxies ls|show|add|rm` against a real broker. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MetaDocument } from '../../src/domain/types.js';
import { apiOk, cli, cliOk, loadDocument, smallFleet, useFileBroker } from '../helpers/cli.js';
import { buildDocument } from '../helpers/documents.js';

const target = useFileBroker();
const args = target.args;

/** c1 on four proxies; 127.0.0.2:7004 reported by a coordinator; 127.0.0.3:7004 failed over. */
async function fleetWithTrouble(): Promise<void> {
  await loadDocument(
    target.broker,
    smallFleet({
      clusters: {
        c1: [
          ['127.0.0.1:7001', '127.0.0.2:7001'],
          ['127.0.0.3:7001', '127.0.0.1:7002'],
        ],
      },
    }),
  );
  await apiOk(target.broker, 'POST', '/failures/127.0.0.2:7004/coordinator1');
  await apiOk(target.broker, 'POST', '/proxies/failover/127.0.0.3:7004');
}

test('proxies ls: address, host, cluster and state of every proxy; -o wide adds the nodes', async () => {
  await fleetWithTrouble();
  const rows = [
    ['127.0.0.1:7001  host1  c1       serving', '127.0.0.1:7001-n0,127.0.0.1:7001-n1'],
    ['127.0.0.1:7002  host1  c1       serving', '127.0.0.1:7002-n0,127.0.0.1:7002-n1'],
    ['127.0.0.1:7003  host1  -        free   ', '127.0.0.1:7003-n0,127.0.0.1:7003-n1'],
    ['127.0.0.1:7004  host1  -        free   ', '127.0.0.1:7004-n0,127.0.0.1:7004-n1'],
    ['127.0.0.2:7001  host2  c1       serving', '127.0.0.2:7001-n0,127.0.0.2:7001-n1'],
    ['127.0.0.2:7002  host2  -        free   ', '127.0.0.2:7002-n0,127.0.0.2:7002-n1'],
    ['127.0.0.2:7003  host2  -        free   ', '127.0.0.2:7003-n0,127.0.0.2:7003-n1'],
    ['127.0.0.2:7004  host2  -        free,reported', '127.0.0.2:7004-n0,127.0.0.2:7004-n1'],
    ['127.0.0.3:7001  host3  c1       serving', '127.0.0.3:7001-n0,127.0.0.3:7001-n1'],
    ['127.0.0.3:7002  host3  -        free   ', '127.0.0.3:7002-n0,127.0.0.3:7002-n1'],
    ['127.0.0.3:7003  host3  -        free   ', '127.0.0.3:7003-n0,127.0.0.3:7003-n1'],
    ['127.0.0.3:7004  host3  -        failed ', '127.0.0.3:7004-n0,127.0.0.3:7004-n1'],
  ];
  assert.equal(
    await cliOk(args('proxies', 'ls')),
    ['ADDRESS         HOST   CLUSTER  STATE', ...rows.map(([row]) => row!.trimEnd()), ''].join('\n'),
  );
  assert.equal(
    await cliOk(args('proxies', 'ls', '-o', 'wide')),
    [
      'ADDRESS         HOST   CLUSTER  STATE          NODES',
      ...rows.map(([row, nodes]) => `${row!.padEnd(45)}  ${nodes}`),
      '',
    ].join('\n'),
  );
});

test('proxies ls -o json: GET /proxies/addresses exactly', async () => {
  await fleetWithTrouble();
  assert.equal(
    await cliOk(args('proxies', 'ls', '-o', 'json')),
    `${await apiOk(target.broker, 'GET', '/proxies/addresses')}\n`,
  );
});

test('proxies ls on an empty broker says how to add one', async () => {
  await loadDocument(target.broker, buildDocument({ proxies: [] }));
  assert.equal(
    await cliOk(args('proxies', 'ls')),
    'no proxies registered; add one with `metabroker proxies add ADDR NODE1 NODE2`\n',
  );
  assert.equal(await cliOk(args('proxies', 'ls', '-o', 'json')), '{"addresses":[]}\n');
});

test('proxies show: the view as a table; -o wide adds migrations and peers; -o json is the body', async () => {
  await fleetWithTrouble();
  assert.equal(
    await cliOk(args('proxies', 'show', '127.0.0.1:7001')),
    [
      'address  127.0.0.1:7001',
      'epoch    10',
      'cluster  c1',
      '',
      'NODE               ROLE     SLOTS   PEER',
      '127.0.0.1:7001-n0  master   0-4095  127.0.0.2:7001-n1 (127.0.0.2:7001)',
      '127.0.0.1:7001-n1  replica  -       127.0.0.2:7001-n0 (127.0.0.2:7001)',
      '',
    ].join('\n'),
  );
  assert.equal(
    await cliOk(args('proxies', 'show', '127.0.0.1:7001', '-o', 'wide')),
    [
      'address  127.0.0.1:7001',
      'epoch    10',
      'cluster  c1',
      '',
      'NODE               ROLE     SLOTS   PEER                                MIGRATIONS',
      '127.0.0.1:7001-n0  master   0-4095  127.0.0.2:7001-n1 (127.0.0.2:7001)  -',
      '127.0.0.1:7001-n1  replica  -       127.0.0.2:7001-n0 (127.0.0.2:7001)  -',
      '',
      'PEER PROXY      SLOTS',
      '127.0.0.2:7001  4096-8191',
      '127.0.0.3:7001  8192-12287',
      '127.0.0.1:7002  12288-16383',
      '',
    ].join('\n'),
  );
  for (const address of ['127.0.0.1:7001', '127.0.0.3:7003']) {
    assert.equal(
      await cliOk(args('proxies', 'show', address, '-o', 'json')),
      `${await apiOk(target.broker, 'GET', `/proxies/meta/${address}`)}\n`,
    );
  }
});

test('proxies show of a free proxy: its free nodes and the global epoch', async () => {
  await fleetWithTrouble();
  assert.equal(
    await cliOk(args('proxies', 'show', '127.0.0.3:7003')),
    [
      'address     127.0.0.3:7003',
      'epoch       12',
      'cluster     - (free)',
      'free nodes  127.0.0.3:7003-n0, 127.0.0.3:7003-n1',
      '',
    ].join('\n'),
  );
});

test('proxies show of an unknown address: exit 1, PROXY_NOT_FOUND; -o json still prints the body', async () => {
  await fleetWithTrouble();
  const expected = [
    'error: PROXY_NOT_FOUND: no proxy at that address (GET /api/v2/proxies/meta/10.9.9.9:1 gave {"proxy":null})',
    'what to do: check the address with `metabroker proxies ls`.',
    '',
  ].join('\n');
  const table = await cli(args('proxies', 'show', '10.9.9.9:1'));
  assert.deepEqual([table.code, table.stdout, table.stderr], [1, '', expected]);
  const json = await cli(args('proxies', 'show', '10.9.9.9:1', '-o', 'json'));
  assert.deepEqual([json.code, json.stdout, json.stderr], [1, '{"proxy":null}\n', expected]);
});

test('proxies add: registers the proxy with its nodes and host; -o json prints the empty body', async () => {
  await loadDocument(target.broker, buildDocument({ proxies: [] }));
  assert.equal(
    await cliOk(args('proxies', 'add', '127.0.0.4:7001', '127.0.0.4:6001', '127.0.0.4:6002')),
    'registered proxy 127.0.0.4:7001 (nodes 127.0.0.4:6001, 127.0.0.4:6002; host from its address)\n',
  );
  assert.equal(
    await cliOk(args('proxies', 'add', '127.0.0.4:7002', '127.0.0.4:6003', '127.0.0.4:6004', '--host', 'rack9')),
    'registered proxy 127.0.0.4:7002 (nodes 127.0.0.4:6003, 127.0.0.4:6004; host rack9)\n',
  );
  assert.equal(await cliOk(args('-o', 'json', 'proxies', 'add', '127.0.0.4:7003', 'n1', 'n2')), '');
  const doc = JSON.parse(await apiOk(target.broker, 'GET', '/metadata')) as MetaDocument;
  assert.deepEqual(doc.all_proxies['127.0.0.4:7001'], {
    proxy_address: '127.0.0.4:7001',
    node_addresses: ['127.0.0.4:6001', '127.0.0.4:6002'],
    host: '127.0.0.4',
    cluster: null,
  });
  assert.equal(doc.all_proxies['127.0.0.4:7002']?.host, 'rack9');
  assert.deepEqual(doc.all_proxies['127.0.0.4:7003']?.node_addresses, ['n1', 'n2']);
});

test('proxies add refused: ALREADY_EXISTED, INVALID_PROXY_ADDRESS exit 1; missing words exit 2', async () => {
  await loadDocument(target.broker, smallFleet());
  const again = await cli(args('proxies', 'add', '127.0.0.1:7001', 'a', 'b'));
  assert.equal(again.code, 1);
  assert.equal(
    again.stderr,
    [
      'error: ALREADY_EXISTED: it already exists (refused by the broker, HTTP 409; POST /api/v2/proxies/meta)',
      'what to do: pick another name, or remove the old one first (re-adding a known proxy still marks it recovered: that part was done).',
      '',
    ].join('\n'),
  );
  const invalid = await cli(args('proxies', 'add', 'no-port', 'a', 'b'));
  assert.equal(invalid.code, 1);
  assert.ok(
    invalid.stderr.startsWith(
      'error: INVALID_PROXY_ADDRESS: proxy address must be host:port (refused by the broker, HTTP 400',
    ),
    invalid.stderr,
  );
  const missing = await cli(args('proxies', 'add', '127.0.0.9:1'));
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr, "error: missing required argument 'node1'\n(add --help for usage)\n");
});

test('proxies rm: removes a free proxy; IN_USE and PROXY_NOT_FOUND exit 1', async () => {
  await fleetWithTrouble();
  assert.equal(await cliOk(args('proxies', 'rm', '127.0.0.1:7003')), 'removed proxy 127.0.0.1:7003\n');
  assert.deepEqual(JSON.parse(await apiOk(target.broker, 'GET', '/proxies/meta/127.0.0.1:7003')), { proxy: null });

  const inUse = await cli(args('proxies', 'rm', '127.0.0.1:7001'));
  assert.equal(inUse.code, 1);
  assert.equal(
    inUse.stderr,
    [
      'error: IN_USE: the proxy serves a cluster (refused by the broker, HTTP 409; DELETE /api/v2/proxies/meta/127.0.0.1:7001)',
      'what to do: shrink the cluster, or fail the proxy over (`metabroker failover ADDR`), before removing it.',
      '',
    ].join('\n'),
  );
  const gone = await cli(args('proxies', 'rm', '127.0.0.1:7003'));
  assert.equal(gone.code, 1);
  assert.ok(
    gone.stderr.startsWith('error: PROXY_NOT_FOUND: no proxy at that address (refused by the broker, HTTP 404;'),
    gone.stderr,
  );
});
