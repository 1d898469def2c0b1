import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_CLUSTER_CONFIG } from '../../src/domain/commands/clusters.js';
import type { ErrorCode, InvalidConfigDetails } from '../../src/domain/errors.js';
import type { ClusterConfig, MutableStore } from '../../src/domain/types.js';
import { getProxyView } from '../../src/domain/views.js';
import { must, storeWithProxies } from '../fixtures/stores.js';
import { viewOf } from '../helpers/coordinator.js';
import { failsUnchanged, succeeds } from '../helpers/expect.js';

function withCluster(): MutableStore {
  const store = storeWithProxies(2, 2);
  must(store, { kind: 'addCluster', name: 'c', nodeNumber: 4 });
  must(store, { kind: 'addCluster', name: 'other', nodeNumber: 4 });
  return store;
}

const D = DEFAULT_CLUSTER_CONFIG;
const M = D.migration_config;

describe('change config', () => {
  const successes: { name: string; config: Record<string, string>; expected: ClusterConfig }[] = [
    {
      name: 'compression set_get_only',
      config: { compression_strategy: 'set_get_only' },
      expected: { ...D, compression_strategy: 'set_get_only' },
    },
    {
      name: 'compression allow_all',
      config: { compression_strategy: 'allow_all' },
      expected: { ...D, compression_strategy: 'allow_all' },
    },
    {
      name: 'key and value in any case',
      config: { Compression_STRATEGY: 'Set_Get_Only' },
      expected: { ...D, compression_strategy: 'set_get_only' },
    },
    {
      name: 'max migration time',
      config: { migration_max_migration_time: '60' },
      expected: { ...D, migration_config: { ...M, max_migration_time: 60 } },
    },
    {
      name: 'max blocking time',
      config: { migration_max_blocking_time: '0' },
      expected: { ...D, migration_config: { ...M, max_blocking_time: 0 } },
    },
    {
      name: 'scan interval may be 0',
      config: { migration_scan_interval: '0' },
      expected: { ...D, migration_config: { ...M, scan_interval: 0 } },
    },
    {
      name: 'scan count 1',
      config: { MIGRATION_SCAN_COUNT: '1' },
      expected: { ...D, migration_config: { ...M, scan_count: 1 } },
    },
    {
      name: 'a leading plus, as the reference integer parser takes',
      config: { migration_scan_count: '+7' },
      expected: { ...D, migration_config: { ...M, scan_count: 7 } },
    },
    {
      name: 'several keys at once',
      config: { compression_strategy: 'allow_all', migration_scan_count: '32', migration_scan_interval: '100' },
      expected: { compression_strategy: 'allow_all', migration_config: { ...M, scan_count: 32, scan_interval: 100 } },
    },
    { name: 'the same value still bumps the epoch', config: { compression_strategy: 'disabled' }, expected: D },
    { name: 'no key at all still bumps the epoch', config: {}, expected: D },
  ];
  for (const c of successes) {
    test(`succeeds: ${c.name}`, () => {
      const store = withCluster();
      const other = store.clusters.get('other');
      succeeds(store, { kind: 'changeConfig', name: 'c', config: c.config });
      const cluster = store.clusters.get('c')!;
      assert.deepEqual(cluster.config, c.expected);
      assert.equal(cluster.epoch, store.globalEpoch, 'the cluster is touched even when nothing differs');
      assert.equal(store.clusters.get('other'), other, 'other clusters are untouched');
      assert.deepEqual(viewOf(store, 'c', 0).config, c.expected);
      const proxy = cluster.chunks[0]!.proxy_addresses[0];
      assert.deepEqual(getProxyView(store, proxy, 0)?.clusters_config, { c: c.expected });
    });
  }

  const failures: {
    name: string;
    cluster?: string;
    config: Record<string, string>;
    code: ErrorCode;
    details?: InvalidConfigDetails;
  }[] = [
    { name: 'invalid name', cluster: 'c/d', config: { nope: 'x' }, code: 'INVALID_CLUSTER_NAME' },
    {
      name: 'unknown cluster before the config is read',
      cluster: 'd',
      config: { nope: 'x' },
      code: 'CLUSTER_NOT_FOUND',
    },
    {
      name: 'unknown key',
      config: { nope: 'x' },
      code: 'INVALID_CONFIG',
      details: { key: 'nope', value: 'x', message: 'FIELD_NOT_FOUND' },
    },
    {
      name: 'the key is reported as sent',
      config: { NOPE: 'X' },
      code: 'INVALID_CONFIG',
      details: { key: 'NOPE', value: 'X', message: 'FIELD_NOT_FOUND' },
    },
    {
      name: 'unknown migration field',
      config: { migration_speed: '1' },
      code: 'INVALID_CONFIG',
      details: { key: 'migration_speed', value: '1', message: 'FIELD_NOT_FOUND' },
    },
    {
      name: 'bare migration prefix',
      config: { migration_: '1' },
      code: 'INVALID_CONFIG',
      details: { key: 'migration_', value: '1', message: 'FIELD_NOT_FOUND' },
    },
    {
      name: 'migration field without its prefix',
      config: { scan_count: '1' },
      code: 'INVALID_CONFIG',
      details: { key: 'scan_count', value: '1', message: 'FIELD_NOT_FOUND' },
    },
    {
      name: 'unknown compression strategy',
      config: { compression_strategy: 'gzip' },
      code: 'INVALID_CONFIG',
      details: { key: 'compression_strategy', value: 'gzip', message: 'INVALID_VALUE' },
    },
    {
      name: 'scan count 0',
      config: { migration_scan_count: '0' },
      code: 'INVALID_CONFIG',
      details: { key: 'migration_scan_count', value: '0', message: 'INVALID_VALUE' },
    },
    {
      name: 'negative number',
      config: { migration_scan_interval: '-1' },
      code: 'INVALID_CONFIG',
      details: { key: 'migration_scan_interval', value: '-1', message: 'INVALID_VALUE' },
    },
    {
      name: 'fraction',
      config: { migration_max_blocking_time: '1.5' },
      code: 'INVALID_CONFIG',
      details: { key: 'migration_max_blocking_time', value: '1.5', message: 'INVALID_VALUE' },
    },
    {
      name: 'empty value',
      config: { migration_max_migration_time: '' },
      code: 'INVALID_CONFIG',
      details: { key: 'migration_max_migration_time', value: '', message: 'INVALID_VALUE' },
    },
    {
      name: 'a valid key before an invalid one applies neither',
      config: { compression_strategy: 'allow_all', migration_scan_count: 'many' },
      code: 'INVALID_CONFIG',
      details: { key: 'migration_scan_count', value: 'many', message: 'INVALID_VALUE' },
    },
  ];
  for (const c of failures) {
    test(`${c.code}: ${c.name}`, () => {
      const store = withCluster();
      const details = failsUnchanged(store, { kind: 'changeConfig', name: c.cluster ?? 'c', config: c.config }, c.code);
      assert.deepEqual(details, c.details);
    });
  }
});
