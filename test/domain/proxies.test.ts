import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyCommand } from '../../src/domain/commands.js';
import type { AddProxy } from '../../src/domain/commands.js';
import { emptyStore } from '../../src/domain/store.js';
import type { MutableStore } from '../../src/domain/types.js';
import { getProxyView } from '../../src/domain/views.js';
import { CTX, must, proxyAddress, storeWithProxies } from '../fixtures/stores.js';
import { failsUnchanged, failsWithChanges, succeeds } from '../helpers/expect.js';
import { assertConsistent, documentOf, snapshot } from '../helpers/invariants.js';

function addProxy(
  proxy_address: string,
  host: string | null = null,
  nodes: [string, string] = ['127.0.0.1:6000', '127.0.0.1:6001'],
): AddProxy {
  return { kind: 'addProxy', proxy_address, nodes, host };
}

describe('add proxy', () => {
  const successes: { name: string; cmd: AddProxy; host: string }[] = [
    { name: 'host taken from the address', cmd: addProxy('127.0.0.1:7000'), host: '127.0.0.1' },
    { name: 'explicit host wins over the address', cmd: addProxy('127.0.0.1:7000', 'localhost'), host: 'localhost' },
    { name: 'name-style host', cmd: addProxy('proxy-a.example:7000'), host: 'proxy-a.example' },
  ];
  for (const c of successes) {
    test(`succeeds: ${c.name}`, () => {
      const store = emptyStore();
      succeeds(store, c.cmd);
      assert.equal(store.globalEpoch, 1);
      assert.deepEqual(store.proxies.get(c.cmd.proxy_address), {
        proxy_address: c.cmd.proxy_address,
        node_addresses: c.cmd.nodes,
        host: c.host,
        cluster: null,
      });
      assertConsistent(store);
    });
  }

  test('a new proxy is served as a free proxy with the global epoch', () => {
    const store = emptyStore();
    succeeds(store, addProxy('127.0.0.1:7000'));
    succeeds(store, addProxy('127.0.0.2:7000'));
    assert.deepEqual(getProxyView(store, '127.0.0.1:7000', 0), {
      address: '127.0.0.1:7000',
      epoch: 2,
      nodes: [],
      free_nodes: ['127.0.0.1:6000', '127.0.0.1:6001'],
      peers: [],
      clusters_config: {},
    });
    assert.equal(getProxyView(store, '127.0.0.9:7000', 0), null);
  });

  const invalid: { name: string; address: string }[] = [
    { name: 'no port separator', address: '127.0.0.1' },
    { name: 'two colons', address: '127.0.0.1:7000:1' },
    { name: 'IPv6-looking address', address: '::1:7000' },
    { name: 'empty address', address: '' },
  ];
  for (const c of invalid) {
    test(`INVALID_PROXY_ADDRESS: ${c.name}`, () => {
      const store = storeWithProxies(2, 1);
      failsUnchanged(store, addProxy(c.address), 'INVALID_PROXY_ADDRESS');
    });
  }

  test('INVALID_PROXY_ADDRESS is checked before the host is considered', () => {
    const store = emptyStore();
    failsUnchanged(store, addProxy('nohost', 'some-host'), 'INVALID_PROXY_ADDRESS');
  });

  test('ALREADY_EXISTED marks the proxy recovered, bumps the epoch and keeps the first record', () => {
    const store = storeWithProxies(2, 2);
    const address = proxyAddress(1, 1);
    must(store, { kind: 'failover', address });
    must(store, { kind: 'addFailure', address, reporter: 'c1' });
    must(store, { kind: 'addFailure', address: proxyAddress(2, 1), reporter: 'c1' });
    assert.ok(store.failedProxies.has(address) && store.failures.has(address));

    const expected = documentOf(store);
    expected.global_epoch += 1;
    expected.failed_proxies = expected.failed_proxies.filter((a) => a !== address);
    delete expected.failures[address];

    failsWithChanges(store, addProxy(address, 'elsewhere', ['x:1', 'x:2']), 'ALREADY_EXISTED');
    assert.deepEqual(documentOf(store), expected, 'only recovery and the epoch changed; the record is the first one');
    assertConsistent(store);
  });

  test('ALREADY_EXISTED on a healthy proxy still bumps the epoch and nothing else', () => {
    const store = storeWithProxies(2, 1);
    const expected = documentOf(store);
    expected.global_epoch += 1;
    failsWithChanges(store, addProxy(proxyAddress(1, 1)), 'ALREADY_EXISTED');
    assert.deepEqual(documentOf(store), expected);
  });

  test('a recovered proxy is allocatable again', () => {
    const store = storeWithProxies(2, 1);
    must(store, { kind: 'failover', address: proxyAddress(1, 1) });
    failsUnchanged(store, { kind: 'addCluster', name: 'c', nodeNumber: 4 }, 'NO_AVAILABLE_RESOURCE');
    failsWithChanges(store, addProxy(proxyAddress(1, 1)), 'ALREADY_EXISTED');
    succeeds(store, { kind: 'addCluster', name: 'c', nodeNumber: 4 });
    assertConsistent(store);
  });

  test('re-adding a proxy that serves a cluster leaves its cluster alone', () => {
    const store = storeWithProxies(2, 1);
    must(store, { kind: 'addCluster', name: 'c', nodeNumber: 4 });
    const cluster = store.clusters.get('c');
    failsWithChanges(store, addProxy(proxyAddress(2, 1)), 'ALREADY_EXISTED');
    assert.equal(store.clusters.get('c'), cluster, 'the cluster record is untouched');
    assert.equal(store.proxies.get(proxyAddress(2, 1))?.cluster, 'c');
    assertConsistent(store);
  });
});

describe('remove proxy', () => {
  test('succeeds on a free proxy and forgets its failure state', () => {
    const store = storeWithProxies(2, 2);
    const address = proxyAddress(1, 2);
    must(store, { kind: 'addFailure', address, reporter: 'c1' });
    must(store, { kind: 'failover', address });
    // A free proxy's reports are dropped by failover; report it again so both kinds of state exist.
    must(store, { kind: 'addFailure', address, reporter: 'c2' });
    succeeds(store, { kind: 'removeProxy', address });
    assert.equal(store.proxies.has(address), false);
    assert.equal(store.failedProxies.has(address), false);
    assert.equal(store.failures.has(address), false);
    assertConsistent(store);
  });

  const failures: {
    name: string;
    setup: (s: MutableStore) => void;
    address: string;
    code: 'PROXY_NOT_FOUND' | 'IN_USE';
  }[] = [
    {
      name: 'PROXY_NOT_FOUND for an unknown address',
      setup: () => {},
      address: '10.0.0.1:7000',
      code: 'PROXY_NOT_FOUND',
    },
    { name: 'PROXY_NOT_FOUND for a malformed address', setup: () => {}, address: 'garbage', code: 'PROXY_NOT_FOUND' },
    {
      name: 'PROXY_NOT_FOUND for an address that only has failure reports',
      setup: (s) => must(s, { kind: 'addFailure', address: '10.0.0.1:7000', reporter: 'c1' }),
      address: '10.0.0.1:7000',
      code: 'PROXY_NOT_FOUND',
    },
    {
      name: 'IN_USE for a proxy in a cluster',
      setup: (s) => must(s, { kind: 'addCluster', name: 'c', nodeNumber: 4 }),
      address: proxyAddress(1, 1),
      code: 'IN_USE',
    },
    {
      name: 'IN_USE for a failed proxy still held by its chunk',
      setup: (s) => {
        must(s, { kind: 'addCluster', name: 'c', nodeNumber: 4 });
        assert.equal(applyCommand(s, { kind: 'failover', address: proxyAddress(1, 1) }, CTX).ok, false);
      },
      address: proxyAddress(1, 1),
      code: 'IN_USE',
    },
  ];
  for (const c of failures) {
    test(c.name, () => {
      const store = storeWithProxies(2, 1);
      c.setup(store);
      failsUnchanged(store, { kind: 'removeProxy', address: c.address }, c.code);
    });
  }

  test('a proxy freed by cluster removal can be removed', () => {
    const store = storeWithProxies(2, 1);
    must(store, { kind: 'addCluster', name: 'c', nodeNumber: 4 });
    must(store, { kind: 'removeCluster', name: 'c' });
    const before = snapshot(store);
    succeeds(store, { kind: 'removeProxy', address: proxyAddress(1, 1) });
    assert.notEqual(snapshot(store), before);
    assert.deepEqual([...store.proxies.keys()], [proxyAddress(2, 1)]);
  });
});
