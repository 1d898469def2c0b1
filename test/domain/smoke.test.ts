import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkMetadata } from '../../src/domain/check.js';
import { getClusterView, getProxyView } from '../../src/domain/views.js';
import { must, storeWithProxies } from '../fixtures/stores.js';

test('create cluster: 8 nodes get 4 masters with balanced consecutive slots', () => {
  const store = storeWithProxies(4, 3);
  must(store, { kind: 'addCluster', name: 'mydb', nodeNumber: 8 });
  assert.deepEqual(checkMetadata(store), []);
  const view = getClusterView(store, 'mydb', 1)!;
  assert.equal(view.nodes.length, 8);
  const masters = view.nodes.filter((n) => n.repl.role === 'master');
  assert.deepEqual(
    masters.map((m) => m.slots.map((s) => s.range_list)),
    [[[[0, 4095]]], [[[4096, 8191]]], [[[8192, 12287]]], [[[12288, 16383]]]],
  );
  const proxy = getProxyView(store, view.nodes[0]!.proxy_address, 1)!;
  assert.equal(proxy.nodes.length, 2);
  assert.equal(proxy.epoch, view.epoch);
});
