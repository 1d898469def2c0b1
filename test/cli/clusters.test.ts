/** `metabroker clusters ...` against a real broker: tables, API bodies, every write, refusals. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClusterView, NodeView } from '../../src/domain/types.js';
import {
  apiOk,
  cli,
  cliOk,
  commitMigrations,
  loadDocument,
  oneClusterFleet,
  smallFleet,
  useFileBroker,
} from '../helpers/cli.js';
import { buildDocument } from '../helpers/documents.js';

const target = useFileBroker();
const args = target.args;

async function view(name: string): Promise<ClusterView> {
  return (JSON.parse(await apiOk(target.broker, 'GET', `/clusters/meta/${name}`)) as { cluster: ClusterView }).cluster;
}

/** c1 grown by one chunk and expanding onto it: one migration in flight (migration_limit 1); c2 of 4 nodes. */
async function expandingFleet(): Promise<void> {
  await loadDocument(target.broker, oneClusterFleet());
  await apiOk(target.broker, 'POST', '/clusters/meta/c2', { node_number: 4 });
  await apiOk(target.broker, 'PATCH', '/clusters/nodes/c1', { node_number: 4 });
  await apiOk(target.broker, 'POST', '/clusters/migrations/expand/c1');
}

test('clusters ls: one line per cluster with its slot bar; -o wide adds masters and compression', async () => {
  await expandingFleet();
  assert.equal(
    await cliOk(args('clusters', 'ls')),
    [
      'CLUSTER  EPOCH  NODES  MIGRATIONS  SLOTS PER MASTER',
      'c1          13     12           1  ████·· 0 to 4096',
      'c2          11      4           0  ██ 8192 each',
      '',
    ].join('\n'),
  );
  assert.equal(
    await cliOk(args('clusters', 'ls', '-o', 'wide')),
    [
      'CLUSTER  EPOCH  NODES  MIGRATIONS  SLOTS PER MASTER  MASTERS  COMPRESSION',
      'c1          13     12           1  ████·· 0 to 4096        6  disabled',
      'c2          11      4           0  ██ 8192 each            2  disabled',
      '',
    ].join('\n'),
  );
});

test('clusters ls -o json: GET /clusters/names exactly; an empty broker says how to create one', async () => {
  await expandingFleet();
  assert.equal(
    await cliOk(args('clusters', 'ls', '-o', 'json')),
    `${await apiOk(target.broker, 'GET', '/clusters/names')}\n`,
  );
  await loadDocument(target.broker, smallFleet());
  assert.equal(
    await cliOk(args('clusters', 'ls')),
    'no clusters; create one with `metabroker clusters create NAME NODES`\n',
  );
  assert.equal(await cliOk(args('clusters', 'ls', '-o', 'json')), '{"names":[]}\n');
});

test('clusters show: the chunks with proxies, hosts, role, masters, slots and migrations', async () => {
  await expandingFleet();
  assert.equal(
    await cliOk(args('clusters', 'show', 'c1')),
    [
      'cluster      c1',
      'epoch        13',
      'nodes        12 (3 chunks)',
      'masters      6, slots ████·· 0 to 4096',
      'migrations   1 in flight',
      'compression  disabled',
      '',
      'CHUNK  PROXIES                         HOSTS         ROLE    MASTERS                               SLOTS                         MIGRATIONS',
      '    0  127.0.0.1:7001, 127.0.0.2:7001  host1, host2  Normal  127.0.0.1:7001-n0, 127.0.0.2:7001-n0  0-2730,2731-4095 | 4096-8191  2731-4095 -> 127.0.0.1:7003',
      '    1  127.0.0.3:7001, 127.0.0.1:7002  host3, host1  Normal  127.0.0.3:7001-n0, 127.0.0.1:7002-n0  8192-12287 | 12288-16383      -',
      '    2  127.0.0.1:7003, 127.0.0.2:7003  host1, host2  Normal  127.0.0.1:7003-n0, 127.0.0.2:7003-n0  - | -                         2731-4095 <- 127.0.0.1:7001',
      '',
    ].join('\n'),
  );
});

test('clusters show: -o wide adds replicas; a takeover shows in ROLE; -o json is the meta body', async () => {
  await loadDocument(target.broker, oneClusterFleet());
  await apiOk(target.broker, 'POST', '/proxies/failover/127.0.0.2:7001');
  assert.equal(
    await cliOk(args('clusters', 'show', 'c1', '-o', 'wide')),
    [
      'cluster      c1',
      'epoch        12',
      'nodes        8 (2 chunks)',
      'masters      4, slots ████ 4096 each',
      'migrations   0 in flight',
      'compression  disabled',
      '',
      'CHUNK  PROXIES                         HOSTS         ROLE              MASTERS                               SLOTS                     MIGRATIONS  REPLICAS',
      '    0  127.0.0.1:7001, 127.0.0.3:7002  host1, host3  FirstChunkMaster  127.0.0.1:7001-n0, 127.0.0.1:7001-n1  0-4095 | 4096-8191        -           127.0.0.3:7002-n0, 127.0.0.3:7002-n1',
      '    1  127.0.0.3:7001, 127.0.0.1:7002  host3, host1  Normal            127.0.0.3:7001-n0, 127.0.0.1:7002-n0  8192-12287 | 12288-16383  -           127.0.0.3:7001-n1, 127.0.0.1:7002-n1',
      '',
    ].join('\n'),
  );
  assert.equal(
    await cliOk(args('clusters', 'show', 'c1', '-o', 'json')),
    `${await apiOk(target.broker, 'GET', '/clusters/meta/c1')}\n`,
  );
});

test('clusters show of an unknown cluster: exit 1, CLUSTER_NOT_FOUND; -o json prints {"cluster":null}', async () => {
  await loadDocument(target.broker, oneClusterFleet());
  const r = await cli(args('clusters', 'show', 'nope', '-o', 'json'));
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '{"cluster":null}\n');
  assert.equal(
    r.stderr,
    [
      'error: CLUSTER_NOT_FOUND: no cluster of that name (GET /api/v2/clusters/meta/nope gave {"cluster":null})',
      'what to do: check the name with `metabroker clusters ls`.',
      '',
    ].join('\n'),
  );
});

test('clusters create and rm; refusals exit 1 with meaning and hint; a word for a count exits 2', async () => {
  await loadDocument(target.broker, smallFleet());
  assert.equal(await cliOk(args('clusters', 'create', 'c2', '8')), 'created cluster c2 with 8 nodes\n');
  assert.equal((await view('c2')).nodes.length, 8);

  const refusals: [string[], string][] = [
    [
      ['create', 'c3', '3'],
      'error: INVALID_NODE_NUMBER: node number must be a positive multiple of 4 (refused by the broker, HTTP 400; POST /api/v2/clusters/meta/c3)\n' +
        'what to do: give a positive multiple of 4: a chunk is 2 proxies with 2 nodes each.\n',
    ],
    [
      ['create', 'c3', '400'],
      'error: NO_AVAILABLE_RESOURCE: not enough free proxies (refused by the broker, HTTP 409; POST /api/v2/clusters/meta/c3)\n' +
        'what to do: register more proxies (`metabroker proxies add`) or ask for fewer nodes; `metabroker status` counts free ones.\n',
    ],
    [
      ['create', 'bad name', '4'],
      'error: INVALID_CLUSTER_NAME: cluster name must be 1 to 30 characters of ASCII letters, digits, @, - or _ (refused by the broker, HTTP 400; POST /api/v2/clusters/meta/bad%20name)\n' +
        'what to do: choose a name of 1 to 30 characters among letters, digits, @, - and _.\n',
    ],
    [
      ['create', 'c2', '4'],
      'error: ALREADY_EXISTED: it already exists (refused by the broker, HTTP 409; POST /api/v2/clusters/meta/c2)\n' +
        'what to do: pick another name, or remove the old one first (re-adding a known proxy still marks it recovered: that part was done).\n',
    ],
  ];
  for (const [words, stderr] of refusals) {
    const r = await cli(args('clusters', ...words));
    assert.deepEqual([r.code, r.stdout, r.stderr], [1, '', stderr], words.join(' '));
  }
  const notNumber = await cli(args('clusters', 'create', 'c3', 'four'));
  assert.equal(notNumber.code, 2);
  assert.equal(
    notNumber.stderr,
    "error: command-argument value 'four' is invalid for argument 'nodes'. must be a whole number up to 1000000.\n(add --help for usage)\n",
  );

  assert.equal(await cliOk(args('clusters', 'rm', 'c2')), 'removed cluster c2; its proxies are free again\n');
  assert.deepEqual(JSON.parse(await apiOk(target.broker, 'GET', '/clusters/names')), { names: [] });
  const gone = await cli(args('clusters', 'rm', 'c2'));
  assert.equal(gone.code, 1);
  assert.ok(
    gone.stderr.startsWith('error: CLUSTER_NOT_FOUND: no cluster of that name (refused by the broker, HTTP 404'),
    gone.stderr,
  );
});

test('clusters add-nodes and scale-to: the nodes added as a table, and -o json exactly as answered', async () => {
  await loadDocument(target.broker, oneClusterFleet());
  assert.equal(
    await cliOk(args('clusters', 'add-nodes', 'c1', '4')),
    [
      'added 4 nodes to c1; they hold no slots until `metabroker clusters expand c1`',
      '',
      'NODE               PROXY           ROLE',
      '127.0.0.2:7002-n0  127.0.0.2:7002  master',
      '127.0.0.2:7002-n1  127.0.0.2:7002  replica',
      '127.0.0.3:7002-n0  127.0.0.3:7002  master',
      '127.0.0.3:7002-n1  127.0.0.3:7002  replica',
      '',
    ].join('\n'),
  );
  // The answer of PUT /clusters/nodes is the nodes added: the view's last four.
  const added = JSON.parse(await cliOk(args('-o', 'json', 'clusters', 'scale-to', 'c1', '16'))) as NodeView[];
  assert.deepEqual(added, (await view('c1')).nodes.slice(12));
  assert.equal(added.length, 4);

  const enough = await cli(args('clusters', 'scale-to', 'c1', '8'));
  assert.equal(enough.code, 1);
  assert.equal(
    enough.stderr,
    'error: NODE_NUM_ALREADY_ENOUGH: the cluster already has that many nodes (refused by the broker, HTTP 409; PUT /api/v2/clusters/nodes/c1)\n' +
      'what to do: give a number above its size (`metabroker clusters show NAME`); to make it smaller, `clusters shrink`.\n',
  );
});

test('clusters expand, then shrink and rm-free-nodes once the coordinator committed the migrations', async () => {
  await loadDocument(target.broker, oneClusterFleet());
  await apiOk(target.broker, 'PATCH', '/clusters/nodes/c1', { node_number: 4 });
  assert.equal(
    await cliOk(args('clusters', 'expand', 'c1')),
    'expanding c1: slots are moving to its empty chunks; follow with `metabroker migrations ls` or `metabroker status --watch`\n',
  );
  const running = await cli(args('clusters', 'expand', 'c1'));
  assert.equal(running.code, 1);
  assert.equal(
    running.stderr,
    'error: MIGRATION_RUNNING: the cluster has a migration running (refused by the broker, HTTP 409; POST /api/v2/clusters/migrations/expand/c1)\n' +
      'what to do: wait until `metabroker migrations ls` shows none for this cluster (`metabroker status --watch`), then retry.\n',
  );
  assert.ok((await commitMigrations(target.broker, 'c1')) >= 2);
  assert.match(await cliOk(args('clusters', 'ls')), /^c1 +\d+ +12 +0 +██████ 2730 to 2731$/m);

  const even = await cli(args('clusters', 'expand', 'c1'));
  assert.equal(even.code, 1);
  assert.ok(
    even.stderr.startsWith('error: SLOTS_ALREADY_EVEN: the cluster has no empty chunk to move slots to'),
    even.stderr,
  );

  assert.equal(
    await cliOk(args('clusters', 'shrink', 'c1', '8')),
    'shrinking c1 to 8 nodes: slots are moving to its first chunks; once `metabroker migrations ls` shows none, ' +
      '`metabroker clusters rm-free-nodes c1` releases the rest\n',
  );
  await commitMigrations(target.broker, 'c1');
  assert.equal(
    await cliOk(args('clusters', 'rm-free-nodes', 'c1')),
    'removed the chunks of c1 that held no slots; their proxies are free again\n',
  );
  assert.equal((await view('c1')).nodes.length, 8);
  const none = await cli(args('clusters', 'rm-free-nodes', 'c1'));
  assert.equal(none.code, 1);
  assert.ok(none.stderr.startsWith('error: FREE_NODE_NOT_FOUND: the cluster has no chunk without slots'), none.stderr);
});

test("clusters config: key=value pairs; INVALID_CONFIG with the broker's words; a bare word exits 2", async () => {
  await loadDocument(target.broker, oneClusterFleet());
  assert.equal(
    await cliOk(args('clusters', 'config', 'c1', 'compression_strategy=set_get_only', 'migration_scan_count=20')),
    'changed the config of c1: compression_strategy=set_get_only, migration_scan_count=20\n',
  );
  const config = (await view('c1')).config;
  assert.equal(config.compression_strategy, 'set_get_only');
  assert.equal(config.migration_config.scan_count, 20);

  const unknown = await cli(args('clusters', 'config', 'c1', 'colour=blue'));
  assert.equal(unknown.code, 1);
  assert.equal(
    unknown.stderr,
    [
      'error: INVALID_CONFIG: invalid cluster config (refused by the broker, HTTP 409; PATCH /api/v2/clusters/config/c1)',
      '  broker says: colour=blue: FIELD_NOT_FOUND',
      'what to do: known keys: compression_strategy (disabled, set_get_only, allow_all), migration_max_migration_time, ' +
        'migration_max_blocking_time, migration_scan_interval, migration_scan_count (whole numbers; scan_count above 0).',
      '',
    ].join('\n'),
  );
  const bare = await cli(args('clusters', 'config', 'c1', 'compression'));
  assert.deepEqual(
    [bare.code, bare.stderr],
    [2, 'error: "compression" is not key=value (e.g. migration_scan_count=20)\n'],
  );
});

test('clusters balance: a taken-over chunk whose proxies are healthy again goes back to Normal', async () => {
  await loadDocument(target.broker, oneClusterFleet());
  await apiOk(target.broker, 'POST', '/proxies/failover/127.0.0.2:7001');
  // The replacement is healthy, so the chunk can be balanced.
  assert.match(await cliOk(args('clusters', 'show', 'c1')), / FirstChunkMaster /);
  assert.equal(
    await cliOk(args('clusters', 'balance', 'c1')),
    'balanced the masters of c1: healthy chunks are back to one master per proxy\n',
  );
  assert.doesNotMatch(await cliOk(args('clusters', 'show', 'c1')), /FirstChunkMaster/);
});

test('writes answer nothing with -o json, as the API does', async () => {
  await loadDocument(target.broker, buildDocument({ proxies: ['127.0.0.1:7001@h1', '127.0.0.2:7001@h2'] }));
  assert.equal(await cliOk(args('-o', 'json', 'clusters', 'create', 'c1', '4')), '');
  assert.equal(await cliOk(args('-o', 'json', 'clusters', 'config', 'c1', 'compression_strategy=allow_all')), '');
  assert.equal(await cliOk(args('-o', 'json', 'clusters', 'rm', 'c1')), '');
});
