import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse as parseToml } from 'smol-toml';
import { CONFIG_KEYS, ConfigError, describeConfig, envVarName, loadConfig } from '../../src/config.js';
import type { ConfigKey } from '../../src/config.js';
import { findRepoFile } from './repo.js';

const dir = mkdtempSync(join(tmpdir(), 'metabroker-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function tomlFile(text: string): string {
  const path = join(dir, `c${++fileCount}.toml`);
  writeFileSync(path, text);
  return path;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

test('loadConfig: no file and no environment gives the reference defaults', () => {
  const cfg = loadConfig([], {});
  assert.deepEqual(
    { ...cfg },
    {
      address: '127.0.0.1:7799',
      host: '127.0.0.1',
      port: 7799,
      failureTtl: 60,
      failureQuorum: 1,
      migrationLimit: 1,
      recoverFromMetaFile: false,
      metaFilename: 'metadata',
      autoUpdateMetaFile: false,
      updateMetaFileInterval: 0,
      replicaAddresses: [],
      syncMetaInterval: 0,
      debug: false,
      apiToken: '',
      maxMetadataBodyBytes: 268435456,
      maxBodyBytesInFlight: 268435456 + 64 * 1024 * 1024,
      minBodyBytesPerSecond: 1048576,
      idleTimeoutSeconds: 10,
      readerThreads: 0,
      storage: 'file',
      etcdEndpoints: ['http://127.0.0.1:2379'],
      etcdPrefix: '/metabroker/',
      etcdLeaseTtl: 5,
      etcdTimeoutMs: 2000,
      etcdMaxTxnOps: 128,
      etcdUsername: '',
      etcdPassword: '',
      etcdCaFile: '',
      etcdCertFile: '',
      etcdKeyFile: '',
      advertiseAddress: '127.0.0.1:7799',
      configFile: null,
    },
  );
  assert.ok(Object.isFrozen(cfg));
  assert.ok(Object.isFrozen(cfg.replicaAddresses));
});

test('loadConfig: the file overrides defaults and the environment overrides the file', () => {
  const path = tomlFile(
    [
      'address = "0.0.0.0:8000"',
      'failure_ttl = 30',
      'failure_quorum = 2',
      'debug = true',
      'replica_addresses = ["10.0.0.1:7799", "10.0.0.2:7799"]',
      'meta_filename = "/var/lib/x/meta"',
    ].join('\n'),
  );
  const cfg = loadConfig([path], {
    UNDERMOON_FAILURE_TTL: '45',
    UNDERMOON_DEBUG: 'false',
    UNDERMOON_AUTO_UPDATE_META_FILE: 'TRUE',
    UNDERMOON_API_TOKEN: 's3cret',
    OTHER_VARIABLE: 'ignored',
    UNDERMOON_NOT_A_KEY: 'ignored, like the reference',
  });
  assert.equal(cfg.address, '0.0.0.0:8000');
  assert.equal(cfg.port, 8000);
  assert.equal(cfg.failureTtl, 45, 'env wins over file');
  assert.equal(cfg.failureQuorum, 2, 'file wins over default');
  assert.equal(cfg.debug, false, 'env false wins over file true');
  assert.equal(cfg.autoUpdateMetaFile, true);
  assert.equal(cfg.apiToken, 's3cret');
  assert.equal(cfg.metaFilename, '/var/lib/x/meta');
  assert.deepEqual(cfg.replicaAddresses, ['10.0.0.1:7799', '10.0.0.2:7799']);
  assert.equal(cfg.configFile, path);
});

test('loadConfig: replica_addresses accepts a comma list in the file and in the environment', () => {
  const path = tomlFile('replica_addresses = "a.example:1,b.example:2"');
  assert.deepEqual(loadConfig([path], {}).replicaAddresses, ['a.example:1', 'b.example:2']);
  const fromEnv = loadConfig([], { UNDERMOON_REPLICA_ADDRESSES: ' 10.0.0.1:7799 , [::1]:7800,' });
  assert.deepEqual(fromEnv.replicaAddresses, ['10.0.0.1:7799', '[::1]:7800']);
  assert.deepEqual(loadConfig([], { UNDERMOON_REPLICA_ADDRESSES: '' }).replicaAddresses, []);
  const err = configError(() => loadConfig([], { UNDERMOON_REPLICA_ADDRESSES: 'a:1,nonsense' }));
  assert.equal(err.key, 'replica_addresses');
  assert.match(err.message, /item 1 must be host:port/);
});

test('loadConfig: environment integers and booleans are parsed strictly', () => {
  const cfg = loadConfig([], {
    UNDERMOON_MIGRATION_LIMIT: '0',
    UNDERMOON_FAILURE_QUORUM: '0',
    UNDERMOON_RECOVER_FROM_META_FILE: 'true',
  });
  assert.equal(cfg.migrationLimit, 0);
  assert.equal(cfg.failureQuorum, 0, 'u64 in the reference, so 0 is allowed');
  assert.equal(cfg.recoverFromMetaFile, true);
  const cases: [string, string, RegExp][] = [
    ['UNDERMOON_FAILURE_TTL', '-1', /non-negative integer/],
    ['UNDERMOON_FAILURE_TTL', '1.5', /non-negative integer/],
    ['UNDERMOON_FAILURE_TTL', '', /non-negative integer/],
    ['UNDERMOON_FAILURE_TTL', 'ten', /non-negative integer/],
    ['UNDERMOON_DEBUG', 'yes', /true or false/],
    ['UNDERMOON_SYNC_META_INTERVAL', '99999999', /at most 2147483/],
  ];
  for (const [name, value, reason] of cases) {
    const err = configError(() => loadConfig([], { [name]: value }));
    assert.equal(envVarName(err.key as ConfigKey), name, `${name}=${value} names its key`);
    assert.equal(err.where, name, `${name}=${value}: the error says where the value came from`);
    assert.match(err.message, reason, `${name}=${value}`);
  }
});

test('loadConfig: an unknown key in the file is an error naming the key', () => {
  const path = tomlFile('address = "127.0.0.1:1"\nfailure_tll = 5\nzz = 1\nmeta_file = "x"\n');
  const err = configError(() => loadConfig([path], {}));
  assert.equal(err.key, 'failure_tll');
  assert.equal(err.where, path);
  assert.equal(err.message, `config key "failure_tll" (${path}): unknown key (also unknown: "meta_file", "zz")`);
  const nested = tomlFile('[server]\naddress = "127.0.0.1:1"\n');
  assert.equal(configError(() => loadConfig([nested], {})).key, 'server');
});

test('loadConfig: a value of the wrong type or range is an error naming key and reason', () => {
  const cases: [string, string, RegExp][] = [
    ['failure_ttl = "60"', 'failure_ttl', /non-negative integer, got "60"/],
    ['failure_ttl = -1', 'failure_ttl', /non-negative integer, got -1/],
    ['failure_ttl = 1.5', 'failure_ttl', /non-negative integer, got 1.5/],
    ['failure_ttl = 99999999999999999999', 'failure_ttl', /at most/],
    ['debug = "true"', 'debug', /true or false/],
    ['recover_from_meta_file = 1', 'recover_from_meta_file', /true or false/],
    ['meta_filename = ""', 'meta_filename', /must not be empty/],
    ['meta_filename = 5', 'meta_filename', /must be a string/],
    ['replica_addresses = [1]', 'replica_addresses', /item 0 must be host:port/],
    ['replica_addresses = 3', 'replica_addresses', /array of host:port strings or a comma-separated string/],
    ['max_metadata_body_bytes = 0', 'max_metadata_body_bytes', /at least 1/],
    ['reader_threads = 100000', 'reader_threads', /at most 1024/],
    ['update_meta_file_interval = 3000000', 'update_meta_file_interval', /at most 2147483/],
  ];
  for (const [line, key, reason] of cases) {
    const err = configError(() => loadConfig([tomlFile(line)], {}));
    assert.equal(err.key, key, line);
    assert.match(err.reason, reason, line);
  }
});

test('loadConfig: the address must be host:port with a port from 0 to 65535', () => {
  for (const good of ['127.0.0.1:0', 'localhost:65535', '[::1]:7799', 'broker.example:80']) {
    assert.equal(loadConfig([], { UNDERMOON_ADDRESS: good }).address, good);
  }
  assert.equal(loadConfig([], { UNDERMOON_ADDRESS: '[::1]:7799' }).host, '::1');
  for (const bad of [
    '127.0.0.1',
    '127.0.0.1:65536',
    ':7799',
    '127.0.0.1:-1',
    '127.0.0.1:port',
    '::1:7799',
    'a b:1',
    '[nope]:1',
  ]) {
    const err = configError(() => loadConfig([], { UNDERMOON_ADDRESS: bad }));
    assert.equal(err.key, 'address', bad);
    assert.match(err.reason, /host:port with a port from 0 to 65535/, bad);
  }
});

test('loadConfig: a missing, unreadable or invalid file is an error naming the file', () => {
  const missing = join(dir, 'missing.toml');
  assert.match(configError(() => loadConfig([missing], {})).message, new RegExp(`cannot read config file ${missing}`));
  assert.match(configError(() => loadConfig([dir], {})).message, /cannot read config file/);
  const broken = tomlFile('address = "unterminated\n');
  const err = configError(() => loadConfig([broken], {}));
  assert.equal(err.key, undefined);
  assert.match(err.message, /is not valid TOML \(line 1/);
  const latin1 = join(dir, 'latin1.toml');
  writeFileSync(latin1, Buffer.from([0x61, 0x20, 0x3d, 0x20, 0x22, 0xe9, 0x22, 0x0a]));
  assert.match(configError(() => loadConfig([latin1], {})).message, /not valid UTF-8/);
  assert.match(configError(() => loadConfig([''], {})).message, /path .* is empty/);
});

test('loadConfig: the api_token value never appears in an error', () => {
  const err = configError(() => loadConfig([tomlFile('api_token = 123456789')], {}));
  assert.equal(err.key, 'api_token');
  assert.doesNotMatch(err.message, /123456789/);
});

test('describeConfig: lists every key and redacts the token', () => {
  const cfg = loadConfig([], { UNDERMOON_API_TOKEN: 'topsecret' });
  const described = describeConfig(cfg);
  for (const key of CONFIG_KEYS) assert.ok(Object.hasOwn(described, key), key);
  assert.equal(described.api_token, '<redacted>');
  assert.doesNotMatch(JSON.stringify(described), /topsecret/);
  assert.equal(describeConfig(loadConfig([], {})).api_token, '');
});

test('deploy/metabroker.toml: sets every key and loads cleanly', () => {
  const path = findRepoFile('deploy/metabroker.toml');
  assert.deepEqual(Object.keys(parseToml(readFileSync(path, 'utf8'))).sort(), [...CONFIG_KEYS].sort());
  const cfg = loadConfig([path], {});
  assert.equal(cfg.recoverFromMetaFile, true);
  assert.equal(cfg.autoUpdateMetaFile, true);
  assert.equal(cfg.metaFilename, 'metadata', 'relative, so that it lands in the unit working directory');
});

test('loadConfig: etcd mode keys, from the file and the environment', () => {
  const path = tomlFile(
    'storage = "etcd"\netcd_endpoints = ["http://10.0.0.1:2379", "https://10.0.0.2:2379/"]\netcd_prefix = "/fleet-a/"\n',
  );
  const cfg = loadConfig([path], { UNDERMOON_ETCD_LEASE_TTL: '3', UNDERMOON_ADVERTISE_ADDRESS: '10.0.0.9:7799' });
  assert.equal(cfg.storage, 'etcd');
  assert.deepEqual(cfg.etcdEndpoints, ['http://10.0.0.1:2379', 'https://10.0.0.2:2379']);
  assert.equal(cfg.etcdPrefix, '/fleet-a/');
  assert.equal(cfg.etcdLeaseTtl, 3);
  assert.equal(cfg.advertiseAddress, '10.0.0.9:7799');
  assert.deepEqual(loadConfig([], { UNDERMOON_ETCD_ENDPOINTS: 'http://a:1, http://b:2' }).etcdEndpoints, [
    'http://a:1',
    'http://b:2',
  ]);
});

test('loadConfig: bad etcd settings stop the start, naming the key', () => {
  const cases: [Record<string, string>, ConfigKey][] = [
    [{ UNDERMOON_STORAGE: 'redis' }, 'storage'],
    [{ UNDERMOON_ETCD_ENDPOINTS: '10.0.0.1:2379' }, 'etcd_endpoints'],
    [{ UNDERMOON_ETCD_ENDPOINTS: 'http://host' }, 'etcd_endpoints'],
    [{ UNDERMOON_ETCD_PREFIX: 'metabroker' }, 'etcd_prefix'],
    [{ UNDERMOON_ETCD_LEASE_TTL: '0' }, 'etcd_lease_ttl'],
    [{ UNDERMOON_ETCD_TIMEOUT_MS: 'soon' }, 'etcd_timeout_ms'],
    [{ UNDERMOON_ADVERTISE_ADDRESS: 'nohostport' }, 'advertise_address'],
    [{ UNDERMOON_STORAGE: 'etcd', UNDERMOON_ADDRESS: '0.0.0.0:7799' }, 'advertise_address'],
    [{ UNDERMOON_ETCD_CERT_FILE: '/etc/cert.pem' }, 'etcd_key_file'],
  ];
  for (const [env, key] of cases) assert.equal(configError(() => loadConfig([], env)).key, key, JSON.stringify(env));
});

test('describeConfig: redacts the etcd password', () => {
  const described = describeConfig(loadConfig([], { UNDERMOON_ETCD_PASSWORD: 'hunter2' }));
  assert.equal(described.etcd_password, '<redacted>');
  assert.doesNotMatch(JSON.stringify(described), /hunter2/);
});

test('deploy/etcd/broker-*.toml: three brokers over one etcd cluster load cleanly, each on its own port', () => {
  const configs = [1, 2, 3].map((i) => loadConfig([findRepoFile(`deploy/etcd/broker-${i}.toml`)], {}));
  assert.deepEqual(
    configs.map((c) => c.storage),
    ['etcd', 'etcd', 'etcd'],
  );
  assert.equal(new Set(configs.map((c) => c.port)).size, 3);
  for (const c of configs) assert.equal(c.etcdEndpoints.length, 3);
});
