import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hostsThatCannotFail } from '../../src/domain/resource.js';
import { emptyStore } from '../../src/domain/store.js';
import type { MutableStore } from '../../src/domain/types.js';
import { CTX, must, proxyAddress, storeWithProxies } from '../fixtures/stores.js';
import { buildDocument } from '../helpers/documents.js';
import type { DocumentSpec } from '../helpers/documents.js';
import { snapshot } from '../helpers/invariants.js';

function fleet(hosts: number, perHost: number, nodes: number): MutableStore {
  const store = storeWithProxies(hosts, perHost);
  if (nodes > 0) must(store, { kind: 'addCluster', name: 'test_cluster', nodeNumber: nodes });
  return store;
}

function restored(spec: DocumentSpec): MutableStore {
  const store = emptyStore();
  must(store, { kind: 'restore', document: buildDocument(spec) });
  return store;
}

describe('failure tolerance check', () => {
  const cases: { name: string; store: () => MutableStore; expected: string[] }[] = [
    { name: 'no cluster: every host can fail (reference test_no_cluster)', store: () => fleet(4, 2, 0), expected: [] },
    { name: 'enough free proxies (reference test_enough_resources)', store: () => fleet(4, 2, 12), expected: [] },
    {
      name: 'no free proxy: no host can fail, listed in byte order (reference test_no_enough_resource)',
      store: () => fleet(4, 2, 16),
      expected: ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'],
    },
    {
      name: 'a replacement may come from a third host',
      store: () => restored({ proxies: ['h1:1', 'h2:1', 'h1:2', 'h2:2', 'h3:1'], clusters: { c: [['h1:1', 'h2:1']] } }),
      expected: [],
    },
    {
      // The reference would take h2:2 for h1:1, putting both halves on h2 (docs/differences.md, item 7).
      name: 'free proxies only on the failed and the surviving host do not help',
      store: () => restored({ proxies: ['h1:1', 'h2:1', 'h1:2', 'h2:2'], clusters: { c: [['h1:1', 'h2:1']] } }),
      expected: ['h1', 'h2'],
    },
    {
      name: 'a host serving two chunks needs two replacements',
      store: () =>
        restored({
          proxies: ['h1:1', 'h2:1', 'h1:2', 'h3:2', 'h4:1'],
          clusters: {
            c: [
              ['h1:1', 'h2:1'],
              ['h1:2', 'h3:2'],
            ],
          },
        }),
      expected: ['h1'],
    },
    {
      name: 'two replacements found for a host serving two chunks',
      store: () =>
        restored({
          proxies: ['h1:1', 'h2:1', 'h1:2', 'h3:2', 'h4:1', 'h4:2'],
          clusters: {
            c: [
              ['h1:1', 'h2:1'],
              ['h1:2', 'h3:2'],
            ],
          },
        }),
      expected: [],
    },
    {
      name: 'reported and failed free proxies are no replacement',
      store: () =>
        restored({
          proxies: ['h1:1', 'h2:1', 'h3:1', 'h4:1'],
          clusters: { c: [['h1:1', 'h2:1']] },
          failed: ['h3:1'],
          failures: { 'h4:1': { r: CTX.now } },
        }),
      expected: ['h1', 'h2'],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const store = c.store();
      const before = snapshot(store);
      assert.deepEqual(hostsThatCannotFail(store, 0), c.expected);
      assert.equal(snapshot(store), before, 'the check leaves the store as it was');
    });
  }

  test('the check changes nothing, even where its simulated failover touches failure reports', () => {
    // Failing a free proxy drops its reports; the simulation must put them back as they were.
    const store = fleet(4, 3, 8);
    must(store, { kind: 'addFailure', address: proxyAddress(1, 3), reporter: 'r1' });
    must(store, { kind: 'addFailure', address: proxyAddress(4, 3), reporter: 'r1' });
    must(store, { kind: 'failover', address: proxyAddress(2, 3) });
    must(store, { kind: 'addFailure', address: 'unknown:1', reporter: 'r2' });
    const before = snapshot(store);
    const revision = store.revision;
    hostsThatCannotFail(store, 1);
    assert.equal(snapshot(store), before);
    assert.equal(store.revision, revision, 'no change was committed');
  });

  test('after a failover the remaining free proxies still cover every host', () => {
    // Chunks h1-h2 and h3-h4; h1's proxy is replaced by h3's second one.
    const store = fleet(4, 2, 8);
    must(store, { kind: 'failover', address: proxyAddress(1, 1) });
    assert.deepEqual(store.clusters.get('test_cluster')!.chunks[0]!.proxy_addresses, [
      proxyAddress(3, 2),
      proxyAddress(2, 1),
    ]);
    assert.deepEqual(hostsThatCannotFail(store, 0), []);
    // Report the last spare on host 4: host 3, now in two chunks, cannot be replaced twice.
    must(store, { kind: 'addFailure', address: proxyAddress(4, 2), reporter: 'r' });
    assert.deepEqual(hostsThatCannotFail(store, 0), ['127.0.0.3']);
  });
});
