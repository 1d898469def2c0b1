import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BrokerError } from '../../src/domain/errors.js';
import { checkBody, toConfigChanges, toMetaDocument } from '../../src/wire/schemas.js';
import type { BodyName } from '../../src/wire/schemas.js';

function rejects(name: BodyName, value: unknown): string {
  try {
    checkBody(name, value);
  } catch (err) {
    assert.ok(err instanceof BrokerError);
    assert.equal(err.code, 'INVALID_REQUEST');
    return err.message;
  }
  assert.fail(`${name} accepted ${JSON.stringify(value)}`);
}

const CHUNK = {
  role_position: 'Normal',
  stable_slots: [
    { range_list: [[0, 8191]], tag: 'None' },
    { range_list: [[8192, 16383]], tag: 'None' },
  ],
  migrating_slots: [[], []],
  proxy_addresses: ['a:1', 'b:1'],
  hosts: ['a', 'b'],
  node_addresses: ['a:2', 'a:3', 'b:2', 'b:3'],
};

function doc(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 'mem-broker-0.1',
    global_epoch: 3,
    clusters: { db: { epoch: 3, name: 'db', chunks: [CHUNK] } },
    all_proxies: {
      'a:1': { proxy_address: 'a:1', node_addresses: ['a:2', 'a:3'], host: 'a', cluster: 'db' },
      'b:1': { proxy_address: 'b:1', node_addresses: ['b:2', 'b:3'], host: 'b', cluster: 'db' },
    },
    failed_proxies: [],
    failures: { 'a:1': { coord: 1_700_000_000 } },
    ...overrides,
  };
}

test('schemas: messages name the offending field', () => {
  assert.equal(rejects('nodeNumber', {}), 'node_number: is required');
  assert.equal(rejects('nodeNumber', { node_number: 8.5 }), 'node_number: must be integer');
  assert.equal(rejects('nodeNumber', { node_number: '8' }), 'node_number: must be integer');
  assert.equal(rejects('nodeNumber', []), 'body: must be object');
  assert.match(rejects('nodeNumber', null), /^body: /);
  assert.equal(rejects('clusterNodeNumber', { node_number: 8 }), 'cluster_node_number: is required');
  assert.match(rejects('addProxy', { proxy_address: 'a:1', nodes: ['a:2'] }), /^nodes: /);
  assert.match(rejects('addProxy', { proxy_address: 'a:1', nodes: ['a:2', 'a:3', 'a:4'] }), /^nodes\[2\]: /);
  assert.match(rejects('addProxy', { proxy_address: 'a:1', nodes: ['a:2', 3] }), /^nodes\[1\]: must be string/);
  assert.match(rejects('addProxy', { proxy_address: 'a:1', nodes: ['a:2', 'a:3'], host: 5 }), /^host: /);
  assert.match(rejects('addProxy', { proxy_address: 7, nodes: ['a:2', 'a:3'] }), /^proxy_address: /);
  assert.match(rejects('changeConfig', { compression_strategy: true }), /^compression_strategy: /);
  assert.match(rejects('changeConfig', 'disabled'), /^body: /);
  assert.match(
    rejects('commitMigration', { cluster_name: 'db', slot_range: { range_list: [[0, -1]], tag: 'None' } }),
    /^slot_range\.range_list\[0\]\[1\]: must be >= 0/,
  );
  assert.match(
    rejects('commitMigration', {
      cluster_name: 'db',
      slot_range: { range_list: [[0, 1]], tag: { Migrating: { epoch: 1 } } },
    }),
    /^slot_range\.tag\.Migrating\.src_proxy_address: is required/,
  );
  assert.match(
    rejects('commitMigration', { cluster_name: 'db', slot_range: { range_list: [[0, 1]], tag: 'none' } }),
    /^slot_range\.tag: /,
  );
});

test('schemas: the document is strict about every field and type', () => {
  const chunk = (patch: Record<string, unknown>) =>
    doc({ clusters: { db: { epoch: 3, name: 'db', chunks: [{ ...CHUNK, ...patch }] } } });
  const cases: [Record<string, unknown>, RegExp][] = [
    [Object.fromEntries(Object.entries(doc()).filter(([k]) => k !== 'version')), /^version: is required/],
    [doc({ version: 1 }), /^version: must be string/],
    [doc({ global_epoch: -1 }), /^global_epoch: must be >= 0/],
    [doc({ global_epoch: 2 ** 53 }), /^global_epoch: /],
    [doc({ global_epoch: 1.5 }), /^global_epoch: must be integer/],
    [doc({ failed_proxies: 'a:1' }), /^failed_proxies: /],
    [doc({ failures: { 'a:1': { coord: 'yesterday' } } }), /^failures\["a:1"\]\.coord: must be integer/],
    [
      doc({ all_proxies: { 'a:1': { proxy_address: 'a:1', node_addresses: ['a:2', 'a:3'], host: 'a' } } }),
      /^all_proxies\["a:1"\]\.cluster: is required/,
    ],
    [
      doc({ all_proxies: { 'a:1': { proxy_address: 'a:1', node_addresses: ['a:2'], host: 'a', cluster: null } } }),
      /^all_proxies\["a:1"\]\.node_addresses: /,
    ],
    [chunk({ role_position: 'Leader' }), /^clusters\.db\.chunks\[0\]\.role_position: /],
    [chunk({ stable_slots: [null] }), /^clusters\.db\.chunks\[0\]\.stable_slots: /],
    [chunk({ migrating_slots: [[]] }), /^clusters\.db\.chunks\[0\]\.migrating_slots: /],
    [chunk({ node_addresses: ['a:2', 'a:3', 'b:2'] }), /^clusters\.db\.chunks\[0\]\.node_addresses: /],
    [chunk({ hosts: ['a', 'b', 'c'] }), /^clusters\.db\.chunks\[0\]\.hosts\[2\]: /],
    [
      chunk({
        migrating_slots: [
          [
            {
              range_list: [[0, 1]],
              is_migrating: 'yes',
              meta: { epoch: 1, src_chunk_index: 0, src_chunk_part: 0, dst_chunk_index: 0, dst_chunk_part: 1 },
            },
          ],
          [],
        ],
      }),
      /^clusters\.db\.chunks\[0\]\.migrating_slots\[0\]\[0\]\.is_migrating: /,
    ],
    [
      doc({
        clusters: { db: { epoch: 3, name: 'db', chunks: [CHUNK], config: { migration_config: { scan_count: 1 } } } },
      }),
      /migration_config\.max_migration_time: is required/,
    ],
  ];
  for (const [value, message] of cases) assert.match(rejects('metaDocument', value), message);
});

test('schemas: map keys holding a newline are still checked', () => {
  assert.match(rejects('metaDocument', doc({ failures: { 'a\n1': { coord: 'x' } } })), /must be integer/);
  assert.match(rejects('changeConfig', { 'compression\nstrategy': [] }), /: /);
});

test('schemas: the document gets config defaults and loses unknown fields', () => {
  const input = doc({ extra: 1 });
  (input.clusters as Record<string, Record<string, unknown>>).db!.unknown = 'x';
  const out = toMetaDocument(checkBody('metaDocument', input));
  assert.deepEqual(out, {
    version: 'mem-broker-0.1',
    global_epoch: 3,
    clusters: {
      db: {
        epoch: 3,
        name: 'db',
        chunks: [CHUNK],
        config: {
          compression_strategy: 'disabled',
          migration_config: { max_migration_time: 10800, max_blocking_time: 10000, scan_interval: 500, scan_count: 16 },
        },
      },
    },
    all_proxies: {
      'a:1': { proxy_address: 'a:1', node_addresses: ['a:2', 'a:3'], host: 'a', cluster: 'db' },
      'b:1': { proxy_address: 'b:1', node_addresses: ['b:2', 'b:3'], host: 'b', cluster: 'db' },
    },
    failed_proxies: [],
    failures: { 'a:1': { coord: 1_700_000_000 } },
  });
});

test('schemas: a config with only migration_config keeps the default strategy; strategies are read in any case', () => {
  const migration_config = { max_migration_time: 1, max_blocking_time: 2, scan_interval: 3, scan_count: 4 };
  const one = toMetaDocument(
    checkBody(
      'metaDocument',
      doc({ clusters: { db: { epoch: 3, name: 'db', chunks: [CHUNK], config: { migration_config } } } }),
    ),
  );
  assert.deepEqual(one.clusters.db!.config, { compression_strategy: 'disabled', migration_config });
  const two = toMetaDocument(
    checkBody(
      'metaDocument',
      doc({
        clusters: { db: { epoch: 3, name: 'db', chunks: [CHUNK], config: { compression_strategy: 'Allow_All' } } },
      }),
    ),
  );
  assert.equal(two.clusters.db!.config.compression_strategy, 'allow_all');
  assert.throws(
    () =>
      toMetaDocument(
        checkBody(
          'metaDocument',
          doc({ clusters: { db: { epoch: 3, name: 'db', chunks: [CHUNK], config: { compression_strategy: 'zip' } } } }),
        ),
      ),
    (err: unknown) =>
      err instanceof BrokerError &&
      err.code === 'INVALID_REQUEST' &&
      err.message.startsWith('clusters["db"].config.compression_strategy'),
  );
});

test('schemas: a `__proto__` key stays an ordinary map key', () => {
  const input = JSON.parse(
    '{"version":"mem-broker-0.1","global_epoch":0,"clusters":{},"all_proxies":{},"failed_proxies":[],"failures":{"__proto__":{"r":1}}}',
  ) as unknown;
  const out = toMetaDocument(checkBody('metaDocument', input));
  assert.deepEqual(Object.keys(out.failures), ['__proto__']);
  assert.equal(Object.getPrototypeOf(out.failures), Object.prototype);
});

test('schemas: config numbers become their decimal text', () => {
  assert.deepEqual(
    toConfigChanges(
      checkBody('changeConfig', {
        migration_scan_count: 32,
        compression_strategy: 'allow_all',
        migration_scan_interval: 1.5,
      }),
    ),
    {
      migration_scan_count: '32',
      compression_strategy: 'allow_all',
      migration_scan_interval: '1.5',
    },
  );
});
