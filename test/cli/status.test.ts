/**
 * `metabroker status` against a real broker: the summary and per-cluster
 * table, its JSON object against the API bodies it is made of, --watch,
 * several broker URLs, and the unreachable broker (exit 3).
 */
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { test } from 'node:test';
import type { ClusterView, MetaDocument } from '../../src/domain/types.js';
import { deadAddress } from '../helpers/ports.js';
import {
  cli,
  cliOk,
  loadDocument,
  oneClusterFleet,
  smallFleet,
  startCli,
  startCliInTerminal,
  useFileBroker,
} from '../helpers/cli.js';

const target = useFileBroker();

/** Cluster c1: two chunks across host1-host2 and host3-host1; 8 free proxies left. */
async function ok(method: string, path: string, body?: unknown): Promise<string> {
  const answer = await target.broker.call(method, path, body);
  assert.equal(answer.status, 200, `${method} ${path}: ${answer.status} ${answer.text}`);
  return answer.text;
}

/** One cluster with a migration in flight, one reported proxy, one failed free proxy. */
async function busyFleet(): Promise<void> {
  await loadDocument(target.broker, oneClusterFleet());
  await ok('PATCH', '/clusters/nodes/c1', { node_number: 4 });
  await ok('POST', '/clusters/migrations/expand/c1');
  await ok('POST', '/failures/127.0.0.2:7004/coordinator1');
  await ok('POST', '/proxies/failover/127.0.0.3:7004');
}

test('status: summary and one line per cluster with its slot bar', async () => {
  await loadDocument(target.broker, oneClusterFleet());
  const out = await cliOk(['--broker', target.broker.origin, 'status']);
  assert.equal(
    out,
    [
      `broker         ${target.broker.origin}`,
      'global epoch   10',
      'hosts          3',
      'proxies        12 total, 8 free, 4 in clusters, 0 failed, 0 reported',
      'clusters       1 (8 nodes, 0 migrations in flight)',
      'hosts at risk  none: the free proxies could absorb the loss of any one host',
      '',
      'CLUSTER  EPOCH  NODES  MIGRATIONS  SLOTS PER MASTER',
      'c1          10      8           0  ████ 4096 each',
      '',
    ].join('\n'),
  );
});

test('status: migrations, failed and reported proxies, empty masters; -o wide adds columns', async () => {
  await busyFleet();
  const out = await cliOk(['--broker', target.broker.origin, 'status', '-o', 'wide']);
  assert.equal(
    out,
    [
      `broker         ${target.broker.origin}`,
      'global epoch   14',
      'hosts          3',
      'proxies        12 total, 5 free, 6 in clusters, 1 failed, 1 reported',
      'clusters       1 (12 nodes, 1 migration in flight)',
      'hosts at risk  none: the free proxies could absorb the loss of any one host',
      '',
      'CLUSTER  EPOCH  NODES  MIGRATIONS  SLOTS PER MASTER  MASTERS  COMPRESSION',
      'c1          12     12           1  ████·· 0 to 4096        6  disabled',
      '',
    ].join('\n'),
  );
});

test('status: hosts whose loss could not be absorbed', async () => {
  await loadDocument(
    target.broker,
    smallFleet({
      clusters: {
        c1: [
          ['127.0.0.1:7001', '127.0.0.2:7001'],
          ['127.0.0.3:7001', '127.0.0.1:7002'],
          ['127.0.0.2:7002', '127.0.0.3:7002'],
          ['127.0.0.1:7003', '127.0.0.2:7003'],
          ['127.0.0.3:7003', '127.0.0.1:7004'],
        ],
      },
    }),
  );
  const out = await cliOk(['--broker', target.broker.origin, 'status']);
  assert.equal(
    out,
    [
      `broker         ${target.broker.origin}`,
      'global epoch   10',
      'hosts          3',
      'proxies        12 total, 2 free, 10 in clusters, 0 failed, 0 reported',
      'clusters       1 (20 nodes, 0 migrations in flight)',
      'hosts at risk  host1, host2, host3: the free proxies could not absorb the loss of any one of these hosts',
      '',
      'CLUSTER  EPOCH  NODES  MIGRATIONS  SLOTS PER MASTER',
      'c1          10     20           0  ██████████ 1638 to 1639',
      '',
    ].join('\n'),
  );
  const json = JSON.parse(await cliOk(['--broker', target.broker.origin, 'status', '-o', 'json'])) as {
    hosts_cannot_fail: string[];
  };
  assert.deepEqual(json.hosts_cannot_fail, ['host1', 'host2', 'host3']);
  assert.deepEqual(JSON.parse(await ok('POST', '/resources/failures/check')), {
    hosts_cannot_fail: json.hosts_cannot_fail,
  });
});

test('status -o json: the documented object, each figure as the API bodies give it', async () => {
  await busyFleet();
  const json = JSON.parse(await cliOk(['--broker', target.broker.origin, 'status', '-o', 'json'])) as Record<
    string,
    unknown
  >;

  const metadata = JSON.parse(await ok('GET', '/metadata')) as MetaDocument;
  const addresses = (JSON.parse(await ok('GET', '/proxies/addresses')) as { addresses: string[] }).addresses;
  const names = (JSON.parse(await ok('GET', '/clusters/names')) as { names: string[] }).names;
  const views = await Promise.all(
    names.map(async (n) => (JSON.parse(await ok('GET', `/clusters/meta/${n}`)) as { cluster: ClusterView }).cluster),
  );
  const failed = (JSON.parse(await ok('GET', '/proxies/failed/addresses')) as { addresses: string[] }).addresses;
  const reported = (JSON.parse(await ok('GET', '/failures')) as { addresses: string[] }).addresses;
  const check = JSON.parse(await ok('POST', '/resources/failures/check')) as { hosts_cannot_fail: string[] };
  const serving = new Set(views.flatMap((v) => v.nodes.map((n) => n.proxy_address)));
  const migrating = views.map(
    (v) => v.nodes.flatMap((n) => n.slots.filter((s) => s.tag !== 'None' && 'Migrating' in s.tag)).length,
  );

  assert.deepEqual(json, {
    broker: target.broker.origin,
    global_epoch: metadata.global_epoch,
    hosts: new Set(Object.values(metadata.all_proxies).map((p) => p.host)).size,
    proxies: {
      total: addresses.length,
      free: addresses.filter((a) => !serving.has(a) && !failed.includes(a)).length,
      in_clusters: serving.size,
      failed: failed.length,
      reported: reported.length,
    },
    clusters: {
      count: names.length,
      nodes: views.reduce((n, v) => n + v.nodes.length, 0),
      migrations: migrating.reduce((a, b) => a + b, 0),
    },
    hosts_cannot_fail: check.hosts_cannot_fail,
    cluster_list: views.map((v, i) => ({
      name: v.name,
      epoch: v.epoch,
      nodes: v.nodes.length,
      masters: v.nodes.filter((n) => n.repl.role === 'master').length,
      migrations: migrating[i],
      slots_per_master: [4096, 4096, 4096, 4096, 0, 0],
      compression_strategy: v.config.compression_strategy,
    })),
  });
  // The fixture's figures, so that the comparison above cannot pass on empty answers.
  assert.equal(metadata.global_epoch, 14);
  assert.deepEqual(migrating, [1]);
  assert.deepEqual([failed, reported], [['127.0.0.3:7004'], ['127.0.0.2:7004']]);
});

const FRAME_ONE_CLUSTER = [
  'global epoch   10',
  'hosts          3',
  'proxies        12 total, 8 free, 4 in clusters, 0 failed, 0 reported',
  'clusters       1 (8 nodes, 0 migrations in flight)',
  'hosts at risk  none: the free proxies could absorb the loss of any one host',
  '',
  'CLUSTER  EPOCH  NODES  MIGRATIONS  SLOTS PER MASTER',
  'c1          10      8           0  ████ 4096 each',
];

test('status --watch --count 2: two frames, then what changed (nothing)', async () => {
  await loadDocument(target.broker, oneClusterFleet());
  const out = await cliOk(['--broker', target.broker.origin, 'status', '--watch', '--count', '2', '--interval', '0.1']);
  assert.equal(
    out,
    [
      '--- refresh 1 of 2 (every 0.1s; Enter refreshes now) ---',
      `broker         ${target.broker.origin}`,
      ...FRAME_ONE_CLUSTER,
      '--- refresh 2 of 2 (every 0.1s; Enter refreshes now) ---',
      `broker         ${target.broker.origin}`,
      ...FRAME_ONE_CLUSTER,
      '',
      'no change since the previous refresh',
      '',
    ].join('\n'),
  );
});

test('status --watch: Enter refreshes at once and the frame lists the changes', async () => {
  await loadDocument(target.broker, oneClusterFleet());
  // An interval far longer than the test: only Enter can bring the second refresh.
  const watch = startCli(['--broker', target.broker.origin, 'status', '--watch', '--count', '2', '--interval', '600']);
  const first = [
    '--- refresh 1 of 2 (every 600s; Enter refreshes now) ---',
    `broker         ${target.broker.origin}`,
    ...FRAME_ONE_CLUSTER,
    '',
  ].join('\n');
  await watch.waitFor((output) => output.length >= first.length, 'the first frame');
  assert.equal(watch.stdout, first);

  await ok('POST', '/clusters/meta/c2', { node_number: 4 });
  watch.write('\n');
  const result = await watch.exited;
  assert.equal(result.code, 0, result.stderr);
  assert.equal(
    result.stdout.slice(first.length),
    [
      '--- refresh 2 of 2 (every 600s; Enter refreshes now) ---',
      `broker         ${target.broker.origin}`,
      'global epoch   11',
      'hosts          3',
      'proxies        12 total, 6 free, 6 in clusters, 0 failed, 0 reported',
      'clusters       2 (12 nodes, 0 migrations in flight)',
      'hosts at risk  none: the free proxies could absorb the loss of any one host',
      '',
      'CLUSTER  EPOCH  NODES  MIGRATIONS  SLOTS PER MASTER',
      'c1          10      8           0  ████ 4096 each',
      'c2          11      4           0  ██ 8192 each',
      '',
      'changed since the previous refresh:',
      '  global epoch: 10 -> 11',
      '  proxies free: 8 -> 6',
      '  proxies in clusters: 4 -> 6',
      '  clusters: 1 -> 2',
      '  nodes in clusters: 8 -> 12',
      '  cluster c2 added (4 nodes)',
      '',
    ].join('\n'),
  );
});

test('status --watch on a terminal: each refresh clears the screen under a timed title', async () => {
  await loadDocument(target.broker, oneClusterFleet());
  const watch = startCliInTerminal([
    '--broker',
    target.broker.origin,
    'status',
    '--watch',
    '--count',
    '2',
    '--interval',
    '0.1',
  ]);
  const result = await watch.exited;
  assert.equal(result.code, 0, result.stdout);
  const frames = result.stdout.replace(/\r\n/g, '\n').split('\x1b[H\x1b[2J').slice(1);
  assert.equal(frames.length, 2, result.stdout);
  assert.match(
    frames[0]!,
    /^metabroker status, every 0\.1s, refresh 1 at \d\d:\d\d:\d\d UTC \(Enter refreshes now, Ctrl-C stops\)\n/,
  );
  assert.match(frames[1]!, /^metabroker status, every 0\.1s, refresh 2 at /);
  assert.ok(frames[1]!.endsWith('\nno change since the previous refresh\n'), frames[1]);
});

test('status --watch -o json: one object per refresh with its changes', async () => {
  await loadDocument(target.broker, oneClusterFleet());
  const out = await cliOk([
    '--broker',
    target.broker.origin,
    '-o',
    'json',
    'status',
    '--watch',
    '--count',
    '2',
    '--interval',
    '0.1',
  ]);
  const frames = out
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as { refresh: number; changes: string[]; global_epoch: number });
  assert.deepEqual(
    frames.map((f) => [f.refresh, f.global_epoch, f.changes]),
    [
      [1, 10, []],
      [2, 10, []],
    ],
  );
});

test('several broker URLs: a dead first one is skipped; METABROKER_URL works like --broker', async () => {
  await loadDocument(target.broker, oneClusterFleet());
  const dead = `http://${deadAddress()}`;
  const out = await cliOk(['--broker', `${dead},${target.broker.origin}`, 'status']);
  assert.equal(out.split('\n')[0], `broker         ${target.broker.origin}`, 'the summary names the URL that answered');
  assert.ok(out.includes('c1          10      8           0  ████ 4096 each'), out);

  const viaEnv = await cliOk(['clusters', 'ls', '-o', 'json'], {
    env: { METABROKER_URL: `${dead}, ${target.broker.origin}/api/v2/` },
  });
  assert.equal(viaEnv, '{"names":["c1"]}\n');
});

test('no URL answers: exit 3 naming each URL and why', async () => {
  const deadA = `http://${deadAddress()}`;
  const deadB = `http://${deadAddress()}`;
  const r = await cli(['--broker', `${deadA},${deadB}`, 'status']);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(
    r.stderr,
    [
      'error: cannot reach the broker:',
      `  ${deadA}: connection refused`,
      `  ${deadB}: connection refused`,
      'what to do: check --broker (or METABROKER_URL) and that the broker is running (`metabroker serve`).',
      '',
    ].join('\n'),
  );
});

test('a broker that accepts but never answers: exit 3 after --timeout', async () => {
  const sockets = new Set<Socket>();
  const silent = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const r = await cli(['--broker', url, '--timeout', '0.3', 'clusters', 'ls']);
    assert.equal(r.code, 3, r.stderr);
    assert.ok(r.stderr.includes(`${url}: no answer within 0.3 s`), r.stderr);

    // A write that went out unanswered is not sent to the next URL: it may have been applied.
    await loadDocument(target.broker, oneClusterFleet());
    const write = await cli(['--broker', `${url},${target.broker.origin}`, '--timeout', '0.3', 'epoch', 'bump', '99']);
    assert.equal(write.code, 3, write.stderr);
    assert.ok(
      write.stderr.includes(`${url}: no answer within 0.3 s to a PUT that was sent; check whether it was applied`),
    );
    assert.equal((JSON.parse(await ok('GET', '/metadata')) as MetaDocument).global_epoch, 10);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});

test('something else answers at --broker: exit 1 saying the answer is not JSON; an answer cut off: exit 3', async () => {
  const other = createHttpServer((req, res) => {
    if (req.url?.startsWith('/api/v2/clusters/names')) res.end('<html>hello</html>');
    else {
      // Headers, then the connection drops mid-answer.
      res.writeHead(200, { 'Content-Length': '100' });
      res.write('{"cluster"');
      res.socket?.destroy();
    }
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    const html = await cli(['--broker', url, 'clusters', 'ls']);
    assert.equal(html.code, 1);
    assert.equal(
      html.stderr,
      [
        'error: GET /api/v2/clusters/names?offset=0&limit=1000: the answer is not JSON ("<html>hello</html>")',
        'what to do: check that --broker (or METABROKER_URL) points at a metabroker.',
        '',
      ].join('\n'),
    );
    const cut = await cli(['--broker', url, 'clusters', 'show', 'c1']);
    assert.equal(cut.code, 3, cut.stderr);
    assert.match(
      cut.stderr,
      new RegExp(`^error: cannot reach the broker:\n  ${url}: .*(cut off|while answering|connection reset)`),
    );
  } finally {
    other.closeAllConnections();
    await new Promise<void>((resolve) => other.close(() => resolve()));
  }
});
