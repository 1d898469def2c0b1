/**
 * Bounded inputs and bounded work in the domain: names the API can carry
 * back, failure reports that cost the same whatever their number and take
 * bounded memory, and restore checks linear in the document.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkMetadata } from '../../src/domain/check.js';
import { applyCommand, prepareCommand } from '../../src/domain/commands.js';
import { MAX_REPORTERS_PER_PROXY } from '../../src/domain/constants.js';
import { isPathSafeName, isValidProxyAddress } from '../../src/domain/names.js';
import { storeFromDocument, storeToDocument } from '../../src/domain/store.js';
import type { ChunkStore, MetaDocument } from '../../src/domain/types.js';
import { encodeChanges } from '../../src/snapshot/codec.js';
import { CTX, must, proxyAddress, storeWithProxies } from '../fixtures/stores.js';
import { buildDocument, cloneDocument, manyMigrations } from '../helpers/documents.js';
import { failsUnchanged } from '../helpers/expect.js';
import { assertConsistent } from '../helpers/invariants.js';

const BAD_NAMES: readonly [string, string][] = [
  ['a lone surrogate', 'h\ud800:1'],
  ['a non-ASCII letter', 'hé:1'],
  ['a space', 'h 1:1'],
  ["a '/'", 'h/1:1'],
  ["a '%'", 'h%41:1'],
  ['a control character', 'h\n:1'],
  ['256 characters', `${'h'.repeat(254)}:1`],
  ['about 64 KB', `${'h'.repeat(65_000)}:1`],
];

describe('names', () => {
  test('a proxy address is 1 to 255 printable ASCII characters but space, / and %, with one :', () => {
    assert.ok(isValidProxyAddress(`${'h'.repeat(253)}:1`), '255 characters');
    assert.ok(isValidProxyAddress('a#?&[]!~:1'));
    for (const [what, address] of BAD_NAMES) assert.equal(isValidProxyAddress(address), false, what);
    assert.equal(isValidProxyAddress('h:1:2'), false);
    // The host is taken from the address when none is given, and a host must be a name.
    assert.equal(isValidProxyAddress(':7000'), false);
    assert.equal(isValidProxyAddress(':'), false);
    assert.equal(isPathSafeName(''), false);
  });

  for (const [what, address] of BAD_NAMES) {
    test(`POST /proxies/meta refuses an address with ${what}: INVALID_PROXY_ADDRESS`, () => {
      failsUnchanged(
        storeWithProxies(1, 1),
        { kind: 'addProxy', proxy_address: address, nodes: ['n:1', 'n:2'], host: null },
        'INVALID_PROXY_ADDRESS',
      );
    });
  }

  test('node addresses and the host follow the same rules: INVALID_REQUEST naming the field', () => {
    const store = storeWithProxies(1, 1);
    for (const [, bad] of BAD_NAMES) {
      failsUnchanged(
        store,
        { kind: 'addProxy', proxy_address: 'h:1', nodes: ['n:1', bad], host: null },
        'INVALID_REQUEST',
      );
      failsUnchanged(
        store,
        { kind: 'addProxy', proxy_address: 'h:1', nodes: ['n:1', 'n:2'], host: bad },
        'INVALID_REQUEST',
      );
    }
    const outcome = applyCommand(
      store,
      { kind: 'addProxy', proxy_address: 'h:1', nodes: ['n:1', 'x'.repeat(300)], host: null },
      CTX,
    );
    assert.ok(!outcome.ok && /nodes\[1\]/.test(outcome.error.message ?? ''));
    assert.ok(!outcome.ok && (outcome.error.message ?? '').length < 300, 'the message quotes a long name cut short');
  });

  test('a failure report refuses a reporter or address the API could not carry back', () => {
    const store = storeWithProxies(1, 1);
    for (const [, bad] of BAD_NAMES) {
      failsUnchanged(store, { kind: 'addFailure', address: proxyAddress(1, 1), reporter: bad }, 'INVALID_REQUEST');
      failsUnchanged(store, { kind: 'addFailure', address: bad, reporter: 'r' }, 'INVALID_PROXY_ADDRESS');
    }
  });
});

/** A valid document, then one edit; the restore must refuse it with INVALID_REQUEST naming `problem`. */
function refusesRestore(edit: (d: MetaDocument) => void, problem: RegExp): void {
  const doc = buildDocument({
    proxies: ['h1:1', 'h2:1', 'h3:1'],
    clusters: { c: [['h1:1', 'h2:1']] },
    failed: ['h3:1'],
    failures: { 'h3:1': { r: 1 } },
  });
  const edited = cloneDocument(doc);
  edit(edited);
  const store = storeWithProxies(1, 1);
  failsUnchanged(store, { kind: 'restore', document: edited }, 'INVALID_REQUEST');
  const outcome = applyCommand(store, { kind: 'restore', document: edited }, CTX);
  assert.ok(!outcome.ok);
  assert.match(outcome.error.message ?? '', problem);
  assert.ok((outcome.error.message ?? '').length < 400, 'a long name is quoted cut short');
}

describe('restore holds every name to the same rules', () => {
  const long = `${'h'.repeat(70_000)}:1`;
  const cases: [string, (d: MetaDocument) => void, RegExp][] = [
    [
      'an all_proxies key',
      (d) => (d.all_proxies[long] = { proxy_address: long, node_addresses: ['a', 'b'], host: 'h', cluster: null }),
      /all_proxies/,
    ],
    [
      'a lone surrogate in an address',
      (d) =>
        (d.all_proxies['h\ud800:1'] = {
          proxy_address: 'h\ud800:1',
          node_addresses: ['a', 'b'],
          host: 'h',
          cluster: null,
        }),
      /all_proxies/,
    ],
    [
      'a node address of a proxy',
      (d) => (d.all_proxies['h3:1'] = { ...d.all_proxies['h3:1']!, node_addresses: ['a b', 'c'] }),
      /node_addresses\[0\]/,
    ],
    ['a host', (d) => (d.all_proxies['h3:1'] = { ...d.all_proxies['h3:1']!, host: 'a/b' }), /host/],
    ['a failed_proxies entry', (d) => d.failed_proxies.push(long), /failed_proxies/],
    [
      'a failed_proxies entry of 200 characters without a port',
      (d) => d.failed_proxies.push('x'.repeat(200)),
      /failed_proxies/,
    ],
    ['a failures key', (d) => (d.failures['h\ud800:1'] = { r: 1 }), /failures/],
    ['a reporter', (d) => (d.failures['h3:1'] = { 'r%20': 1 }), /reporter/],
    [
      'a chunk node address',
      (d) => {
        const chunk = d.clusters.c!.chunks[0]!;
        (d.clusters.c!.chunks as ChunkStore[])[0] = {
          ...chunk,
          node_addresses: ['x y', ...chunk.node_addresses.slice(1)] as unknown as ChunkStore['node_addresses'],
        };
      },
      /chunk 0: node_addresses\[0\]/,
    ],
    [
      'an address in a stable slot range tag',
      (d) => {
        const chunk = d.clusters.c!.chunks[0]!;
        const meta = {
          epoch: 1,
          src_proxy_address: 'h1:1',
          src_node_address: 'n',
          dst_proxy_address: long,
          dst_node_address: 'n',
        };
        (d.clusters.c!.chunks as ChunkStore[])[0] = {
          ...chunk,
          stable_slots: [
            { range_list: chunk.stable_slots[0]!.range_list, tag: { Migrating: meta } },
            chunk.stable_slots[1],
          ],
        };
      },
      /dst_proxy_address/,
    ],
  ];
  for (const [what, edit, problem] of cases) test(what, () => refusesRestore(edit, problem));
});

describe('restored failure reports', () => {
  test('a report time in the future is taken as now; reports on unknown addresses are dropped', () => {
    const doc = buildDocument({
      proxies: ['h1:1', 'h2:1'],
      failures: { 'h1:1': { r1: CTX.now + 1e9, r2: CTX.now - 5 }, 'h9:1': { r: CTX.now } },
    });
    const store = storeWithProxies(1, 1);
    must(store, { kind: 'restore', document: doc });
    assert.deepEqual(storeToDocument(store).failures, { 'h1:1': { r2: CTX.now - 5, r1: CTX.now } });
    // So the clamped report expires like any other.
    must(store, { kind: 'pruneFailures', ttlSeconds: 60 }, { ...CTX, now: CTX.now + 60 });
    assert.deepEqual(storeToDocument(store).failures, {});
  });

  test(`an address with more than ${MAX_REPORTERS_PER_PROXY} reporters keeps the newest`, () => {
    const reports = Object.fromEntries(
      Array.from({ length: 3000 }, (_, i) => [`r${i}`, CTX.now - 3000 + ((i * 7) % 3000)]),
    );
    const store = storeWithProxies(1, 1);
    must(store, { kind: 'restore', document: buildDocument({ proxies: ['h1:1'], failures: { 'h1:1': reports } }) });
    const kept = store.failures.get('h1:1')!;
    assert.equal(kept.size, MAX_REPORTERS_PER_PROXY);
    const times = [...kept.values()];
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
      'oldest first',
    );
    assert.equal(times[0], CTX.now - MAX_REPORTERS_PER_PROXY);
  });
});

describe('failure reports cost the same whatever their number', () => {
  test(`a proxy keeps at most ${MAX_REPORTERS_PER_PROXY} reporters; a new one drops the oldest`, () => {
    const store = storeWithProxies(2, 1);
    const address = proxyAddress(1, 1);
    for (let i = 0; i < MAX_REPORTERS_PER_PROXY + 100; i++)
      must(store, { kind: 'addFailure', address, reporter: `r${i}` }, { ...CTX, now: CTX.now + i });
    const reports = store.failures.get(address)!;
    assert.equal(reports.size, MAX_REPORTERS_PER_PROXY);
    assert.equal(reports.keys().next().value, 'r100');
    // A reporter that reports again becomes the newest, and is kept when the next new one comes.
    must(store, { kind: 'addFailure', address, reporter: 'r100' }, { ...CTX, now: CTX.now + 5000 });
    must(store, { kind: 'addFailure', address, reporter: 'fresh' }, { ...CTX, now: CTX.now + 5001 });
    assert.ok(reports.has('r100'));
    assert.ok(!reports.has('r101'));
    assertConsistent(store);
  });

  test('the change record of one report is the same size with 10 or 1,000 reporters', () => {
    const sizes: number[] = [];
    for (const reporters of [10, 1000]) {
      const store = storeWithProxies(2, 1);
      const address = proxyAddress(1, 1);
      for (let i = 0; i < reporters; i++) must(store, { kind: 'addFailure', address, reporter: `r${i}` });
      const prepared = prepareCommand(store, { kind: 'addFailure', address, reporter: 'last' }, CTX);
      const changes = prepared.commit();
      const record = JSON.parse(encodeChanges(store, changes)) as { r: unknown[] };
      assert.equal(record.r.length, 1, "one report change, not the address's whole report map");
      sizes.push(JSON.stringify(record.r).length);
    }
    assert.equal(sizes[0], sizes[1]);
  });

  test('a report rolled back leaves the reports exactly as they were, order included', () => {
    const store = storeWithProxies(2, 1);
    const address = proxyAddress(1, 1);
    for (const r of ['a', 'b', 'c']) must(store, { kind: 'addFailure', address, reporter: r });
    const before = JSON.stringify([...store.failures.get(address)!]);
    const prepared = prepareCommand(
      store,
      { kind: 'addFailure', address, reporter: 'a' },
      { ...CTX, now: CTX.now + 9 },
    );
    assert.deepEqual([...store.failures.get(address)!.keys()], ['b', 'c', 'a']);
    prepared.rollback();
    assert.equal(JSON.stringify([...store.failures.get(address)!]), before);
  });
});

test('checkMetadata finds migration peers by key: 16,000 migrations check in well under a second', () => {
  const store = storeFromDocument(manyMigrations(16_000));
  const started = performance.now();
  assert.deepEqual(checkMetadata(store), []);
  // The pairwise search took seconds here; by key it takes milliseconds.
  assert.ok(performance.now() - started < 1000, `took ${performance.now() - started} ms`);
});

test('checkMetadata stops listing after 100 problems', () => {
  const doc = buildDocument({ proxies: ['h1:1'] });
  for (let i = 0; i < 10_000; i++) doc.failed_proxies.push(`bad ${i}`);
  assert.equal(checkMetadata(storeFromDocument(doc)).length, 100);
});
