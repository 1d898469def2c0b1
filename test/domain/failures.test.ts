import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyCommand } from '../../src/domain/commands.js';
import { listActiveFailures, listFailedProxies } from '../../src/domain/query.js';
import { CTX, must, proxyAddress, storeWithProxies } from '../fixtures/stores.js';
import { failsUnchanged, succeeds } from '../helpers/expect.js';
import { assertConsistent, snapshot } from '../helpers/invariants.js';

const NOW = CTX.now;

describe('report failure', () => {
  test('records the report time per reporter and bumps the epoch, for known addresses only', () => {
    const store = storeWithProxies(2, 1);
    const known = proxyAddress(1, 1);
    succeeds(store, { kind: 'addFailure', address: known, reporter: 'c1' }, { ...CTX, now: NOW - 10 });
    succeeds(store, { kind: 'addFailure', address: known, reporter: 'c2' }, { ...CTX, now: NOW - 5 });
    // The same reporter again only moves its time forward.
    succeeds(store, { kind: 'addFailure', address: known, reporter: 'c1' }, { ...CTX, now: NOW });
    const before = snapshot(store);
    const unknown = applyCommand(store, { kind: 'addFailure', address: '10.9.9.9:1', reporter: 'c1' }, CTX);
    assert.ok(unknown.ok, 'answered as before');
    assert.equal(unknown.changes, null, 'but nothing is stored');
    assert.equal(snapshot(store), before);
    // Oldest first: c2's report is now older than c1's.
    assert.deepEqual(
      [...store.failures.get(known)!],
      [
        ['c2', NOW - 5],
        ['c1', NOW],
      ],
    );
    assert.equal(store.failures.has('10.9.9.9:1'), false);
    assert.equal(store.globalEpoch, 2 + 3);
    assertConsistent(store);
  });

  test('a reported free proxy is not allocated', () => {
    const store = storeWithProxies(2, 1);
    must(store, { kind: 'addFailure', address: proxyAddress(2, 1), reporter: 'c1' });
    failsUnchanged(store, { kind: 'addCluster', name: 'c', nodeNumber: 4 }, 'NO_AVAILABLE_RESOURCE');
  });

  test('a report on an unknown address does not block allocation', () => {
    const store = storeWithProxies(2, 1);
    must(store, { kind: 'addFailure', address: '127.0.0.1:9999', reporter: 'c1' });
    succeeds(store, { kind: 'addCluster', name: 'c', nodeNumber: 4 });
  });
});

describe('active failures', () => {
  const store = storeWithProxies(3, 1);
  const [a, b, c] = [proxyAddress(1, 1), proxyAddress(2, 1), proxyAddress(3, 1)];
  must(store, { kind: 'addFailure', address: c, reporter: 'r1' }, { ...CTX, now: NOW - 30 });
  must(store, { kind: 'addFailure', address: c, reporter: 'r2' }, { ...CTX, now: NOW - 30 });
  must(store, { kind: 'addFailure', address: a, reporter: 'r1' }, { ...CTX, now: NOW - 5 });
  must(store, { kind: 'addFailure', address: a, reporter: 'r2' }, { ...CTX, now: NOW - 100 });
  must(store, { kind: 'addFailure', address: b, reporter: 'r1' }, { ...CTX, now: NOW - 60 });
  must(store, { kind: 'addFailure', address: '10.0.0.1:1', reporter: 'r1' }, { ...CTX, now: NOW });

  const cases: { name: string; ttl: number; quorum: number; expected: string[] }[] = [
    {
      name: 'quorum 1 lists known proxies with a live report, sorted; a report ttl seconds old has expired',
      ttl: 60,
      quorum: 1,
      expected: [a, c],
    },
    { name: 'a longer ttl keeps older reports', ttl: 61, quorum: 1, expected: [a, b, c] },
    { name: 'quorum counts live reporters only', ttl: 60, quorum: 2, expected: [c] },
    { name: 'with every reporter live, quorum 2 holds for two proxies', ttl: 1000, quorum: 2, expected: [a, c] },
    { name: 'quorum above the reporters lists nothing', ttl: 1000, quorum: 3, expected: [] },
    { name: 'a tiny ttl lists nothing', ttl: 1, quorum: 1, expected: [] },
  ];
  for (const t of cases) {
    test(t.name, () => assert.deepEqual(listActiveFailures(store, NOW, t.ttl, t.quorum), t.expected));
  }

  test('listing failures reads without writing', () => {
    const before = snapshot(store);
    listActiveFailures(store, NOW, 1, 1);
    assert.equal(snapshot(store), before);
  });
});

describe('prune failures', () => {
  test('drops expired reports only, removes emptied addresses and leaves the epoch', () => {
    const store = storeWithProxies(2, 1);
    const [a, b] = [proxyAddress(1, 1), proxyAddress(2, 1)];
    must(store, { kind: 'addFailure', address: a, reporter: 'old' }, { ...CTX, now: NOW - 60 });
    must(store, { kind: 'addFailure', address: a, reporter: 'new' }, { ...CTX, now: NOW - 59 });
    must(store, { kind: 'addFailure', address: b, reporter: 'old' }, { ...CTX, now: NOW - 600 });
    const epoch = store.globalEpoch;
    const outcome = applyCommand(store, { kind: 'pruneFailures', ttlSeconds: 60 }, CTX);
    assert.ok(outcome.ok);
    assert.equal(outcome.value, 2, 'two reports dropped');
    assert.deepEqual(Object.fromEntries(store.failures.get(a)!), { new: NOW - 59 });
    assert.equal(store.failures.has(b), false);
    assert.equal(store.globalEpoch, epoch, 'pruning is housekeeping of a read, as in the reference');
    // A proxy with a live report stays out of allocation until that report expires too.
    failsUnchanged(store, { kind: 'addCluster', name: 'c', nodeNumber: 4 }, 'NO_AVAILABLE_RESOURCE');
    const later = { ...CTX, now: NOW + 1 };
    assert.equal(applyCommand(store, { kind: 'pruneFailures', ttlSeconds: 60 }, later).ok, true);
    assert.equal(store.failures.size, 0);
    succeeds(store, { kind: 'addCluster', name: 'c', nodeNumber: 4 }, later);
    assert.equal(store.clusters.get('c')?.chunks.length, 1);
  });

  test('pruning with nothing expired changes nothing', () => {
    const store = storeWithProxies(2, 1);
    must(store, { kind: 'addFailure', address: proxyAddress(1, 1), reporter: 'r' });
    const before = snapshot(store);
    const outcome = applyCommand(store, { kind: 'pruneFailures', ttlSeconds: 60 }, CTX);
    assert.ok(outcome.ok);
    assert.equal(outcome.value, 0);
    assert.equal(snapshot(store), before);
  });
});

describe('failed proxies', () => {
  test('are listed in ascending byte order', () => {
    const store = storeWithProxies(10, 1);
    for (const h of [9, 10, 2, 1]) must(store, { kind: 'failover', address: proxyAddress(h, 1) });
    // '0' (0x30) sorts before ':' (0x3a), so host 10 comes first.
    assert.deepEqual(listFailedProxies(store), [
      '127.0.0.10:7001',
      '127.0.0.1:7001',
      '127.0.0.2:7001',
      '127.0.0.9:7001',
    ]);
  });
});
