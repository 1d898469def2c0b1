import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkMetadata } from '../../src/domain/check.js';
import { applyCommand } from '../../src/domain/commands.js';
import { MAX_EPOCH } from '../../src/domain/constants.js';
import type { Command } from '../../src/domain/commands.js';
import type { MutableStore } from '../../src/domain/types.js';
import { getProxyView } from '../../src/domain/views.js';
import { CTX, must, proxyAddress, storeWithProxies } from '../fixtures/stores.js';
import { shownMigrations } from '../helpers/coordinator.js';
import { failsUnchanged, succeeds } from '../helpers/expect.js';
import { assertConsistent, snapshot } from '../helpers/invariants.js';

/** Two clusters, `a` (4 nodes) and `b` (8 nodes), on 4 hosts x 3 proxies. */
function twoClusters(): MutableStore {
  const store = storeWithProxies(4, 3);
  must(store, { kind: 'addCluster', name: 'a', nodeNumber: 4 });
  must(store, { kind: 'addCluster', name: 'b', nodeNumber: 8 });
  return store;
}

function clusterEpochs(store: MutableStore): Record<string, number> {
  return Object.fromEntries([...store.clusters].map(([name, c]) => [name, c.epoch]));
}

describe('force epoch', () => {
  test('sets the global and every cluster epoch to the given value', () => {
    const store = twoClusters();
    succeeds(store, { kind: 'forceEpoch', epoch: 233 });
    assert.equal(store.globalEpoch, 233);
    assert.deepEqual(clusterEpochs(store), { a: 233, b: 233 });
    const free = [...store.proxies.values()].find((p) => p.cluster === null)!;
    assert.equal(getProxyView(store, free.proxy_address, 0)?.epoch, 233);
    assertConsistent(store);
  });

  test('one above the current epoch is enough', () => {
    const store = twoClusters();
    const next = store.globalEpoch + 1;
    succeeds(store, { kind: 'forceEpoch', epoch: next });
    assert.deepEqual(clusterEpochs(store), { a: next, b: next });
  });

  const failures: { name: string; delta: number }[] = [
    { name: 'the current epoch', delta: 0 },
    { name: 'a smaller epoch', delta: -1 },
    { name: 'zero', delta: -Infinity },
  ];
  for (const c of failures) {
    test(`EPOCH_SMALLER_THAN_CURRENT: ${c.name}`, () => {
      const store = twoClusters();
      const epoch = c.delta === -Infinity ? 0 : store.globalEpoch + c.delta;
      failsUnchanged(store, { kind: 'forceEpoch', epoch }, 'EPOCH_SMALLER_THAN_CURRENT');
    });
  }
});

describe('recover epoch', () => {
  const cases: { name: string; largest: (global: number) => number; expected: (global: number) => number }[] = [
    { name: 'no proxy answered: one above the global epoch', largest: () => 0, expected: (g) => g + 1 },
    { name: 'proxies behind the broker: one above the global epoch', largest: (g) => g - 1, expected: (g) => g + 1 },
    { name: 'a proxy at the global epoch: one above it', largest: (g) => g, expected: (g) => g + 1 },
    { name: 'a proxy ahead of the broker: one above that proxy', largest: (g) => g + 40, expected: (g) => g + 41 },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const store = twoClusters();
      const global = store.globalEpoch;
      const value = succeeds(store, { kind: 'recoverEpoch', largestProxyEpoch: c.largest(global) });
      assert.equal(value, c.expected(global));
      assert.equal(store.globalEpoch, c.expected(global));
      assert.deepEqual(clusterEpochs(store), { a: c.expected(global), b: c.expected(global) });
    });
  }

  test('without clusters only the global epoch moves', () => {
    const store = storeWithProxies(2, 1);
    succeeds(store, { kind: 'recoverEpoch', largestProxyEpoch: 100 });
    assert.equal(store.globalEpoch, 101);
  });
});

describe('every successful command raises the epoch, also when nothing else changes', () => {
  const cases: { name: string; cmd: Command; touched: string[] }[] = [
    { name: 'balancing a balanced cluster', cmd: { kind: 'balanceMasters', name: 'a' }, touched: ['a'] },
    {
      name: 'setting a config to its current value',
      cmd: { kind: 'changeConfig', name: 'b', config: { compression_strategy: 'disabled' } },
      touched: ['b'],
    },
    {
      name: 'a repeated failure report at the same second',
      cmd: { kind: 'addFailure', address: proxyAddress(1, 1), reporter: 'r0' },
      touched: [],
    },
    {
      name: 'failing an already failed free proxy',
      cmd: { kind: 'failover', address: proxyAddress(4, 3) },
      touched: [],
    },
    {
      name: 'adding a proxy',
      cmd: { kind: 'addProxy', proxy_address: '10.0.0.1:1', nodes: ['n1', 'n2'], host: null },
      touched: [],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const store = twoClusters();
      must(store, { kind: 'addFailure', address: proxyAddress(1, 1), reporter: 'r0' });
      must(store, { kind: 'failover', address: proxyAddress(4, 3) });
      const epochs = clusterEpochs(store);
      const global = store.globalEpoch;
      succeeds(store, c.cmd);
      assert.equal(store.globalEpoch, global + 1);
      const expected = Object.fromEntries(
        Object.entries(epochs).map(([name, e]) => [name, c.touched.includes(name) ? global + 1 : e]),
      );
      assert.deepEqual(clusterEpochs(store), expected, 'only the touched cluster takes the new epoch');
    });
  }

  test('a commit touches only its cluster; a failover only the failed proxy cluster', () => {
    const store = twoClusters();
    must(store, { kind: 'addNodes', name: 'a', nodeNumber: 4 });
    must(store, { kind: 'expand', name: 'a' });
    const bEpoch = store.clusters.get('b')!.epoch;
    const shown = shownMigrations(store, 'a', 0)[0]!;
    succeeds(store, { kind: 'commitMigration', cluster_name: 'a', slot_range: shown });
    assert.equal(store.clusters.get('b')!.epoch, bEpoch);
    succeeds(store, { kind: 'failover', address: store.clusters.get('a')!.chunks[0]!.proxy_addresses[0] });
    assert.equal(store.clusters.get('b')!.epoch, bEpoch);
    assert.equal(store.clusters.get('a')!.epoch, store.globalEpoch);
  });

  test('a failed command leaves every epoch where it was', () => {
    const store = twoClusters();
    const before = snapshot(store);
    assert.equal(applyCommand(store, { kind: 'addCluster', name: 'a', nodeNumber: 4 }, CTX).ok, false);
    assert.equal(applyCommand(store, { kind: 'expand', name: 'a' }, CTX).ok, false);
    assert.equal(applyCommand(store, { kind: 'changeConfig', name: 'a', config: { x: 'y' } }, CTX).ok, false);
    assert.equal(snapshot(store), before);
  });
});

describe('epoch bounds', () => {
  test('forcing an epoch beyond MAX_EPOCH is refused: later bumps would lose precision', () => {
    const store = twoClusters();
    failsUnchanged(store, { kind: 'forceEpoch', epoch: MAX_EPOCH + 1 }, 'INVALID_REQUEST');
    succeeds(store, { kind: 'forceEpoch', epoch: MAX_EPOCH });
  });

  test('recovery refuses a proxy epoch that would carry past MAX_EPOCH', () => {
    const store = twoClusters();
    failsUnchanged(store, { kind: 'recoverEpoch', largestProxyEpoch: MAX_EPOCH }, 'INVALID_REQUEST');
  });

  test('the store after a forced MAX_EPOCH and more changes is still consistent (it must restore)', () => {
    const store = twoClusters();
    succeeds(store, { kind: 'forceEpoch', epoch: MAX_EPOCH });
    succeeds(store, { kind: 'removeCluster', name: 'b' });
    assert.ok(store.globalEpoch > MAX_EPOCH);
    assert.deepEqual(checkMetadata(store), []);
  });

  test('a store whose cluster epoch is beyond the global epoch is inconsistent', () => {
    const store = twoClusters();
    const a = store.clusters.get('a')!;
    store.clusters.set('a', { ...a, epoch: store.globalEpoch + 1 });
    assert.match(checkMetadata(store).join('\n'), /cluster a: epoch \d+ is beyond global_epoch/);
  });
});
