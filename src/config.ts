/**
 * Broker configuration (docs/operations.md#configuration): defaults, then the TOML file named by
 * the first argument, then `UNDERMOON_<KEY>` environment variables, which win.
 *
 * Unlike the reference, which warns and falls back to defaults, every problem
 * is fatal: an unattended service that silently starts with default settings
 * (no metadata file, wrong port) loses data. Each error names its key.
 */
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { constants as bufferConstants } from 'node:buffer';
import { parse as parseToml, TomlError } from 'smol-toml';

export interface BrokerConfig {
  /** `host:port` the HTTP server listens on, as configured. */
  readonly address: string;
  /** The host part of `address`, without IPv6 brackets. */
  readonly host: string;
  readonly port: number;
  readonly failureTtl: number;
  readonly failureQuorum: number;
  /** 0 = unlimited. */
  readonly migrationLimit: number;
  readonly recoverFromMetaFile: boolean;
  readonly metaFilename: string;
  readonly autoUpdateMetaFile: boolean;
  /** Seconds; 0 = off. */
  readonly updateMetaFileInterval: number;
  readonly replicaAddresses: readonly string[];
  /** Seconds; 0 = off. */
  readonly syncMetaInterval: number;
  readonly debug: boolean;
  /** Empty = no authentication. */
  readonly apiToken: string;
  readonly maxMetadataBodyBytes: number;
  /** Bytes of all request bodies held at once (max_metadata_body_bytes + 64 MiB when not set). */
  readonly maxBodyBytesInFlight: number;
  /** Past idle_timeout_seconds, the slowest average rate a request body may come at; 0 = none. */
  readonly minBodyBytesPerSecond: number;
  readonly idleTimeoutSeconds: number;
  /** 0 = choose from the available CPUs. */
  readonly readerThreads: number;
  /** Where changes are made durable: the metadata file, or etcd. */
  readonly storage: 'file' | 'etcd';
  /** etcd client URLs (`http://host:port`). */
  readonly etcdEndpoints: readonly string[];
  readonly etcdPrefix: string;
  readonly etcdLeaseTtl: number;
  readonly etcdTimeoutMs: number;
  readonly etcdMaxTxnOps: number;
  readonly etcdUsername: string;
  readonly etcdPassword: string;
  readonly etcdCaFile: string;
  readonly etcdCertFile: string;
  readonly etcdKeyFile: string;
  /** `host:port` other brokers reach this one at, to forward writes to the leader. */
  readonly advertiseAddress: string;
  /** The TOML file that was read, or null when none was given. */
  readonly configFile: string | null;
}

export class ConfigError extends Error {
  /** The offending key, when the problem is about one key. */
  readonly key: string | undefined;
  readonly reason: string;
  /** Where the value came from: the file path or the environment variable. */
  readonly where: string | undefined;

  constructor(key: string | undefined, reason: string, where?: string) {
    const subject = key === undefined ? 'config' : `config key "${key}"`;
    super(where === undefined ? `${subject}: ${reason}` : `${subject} (${where}): ${reason}`);
    this.name = 'ConfigError';
    this.key = key;
    this.reason = reason;
    this.where = where;
  }
}

/** Both the file and the environment feed the same per-key parser. */
type Source = { kind: 'file'; value: unknown } | { kind: 'env'; value: string };

interface KeySpec<T> {
  readonly defaultValue: T;
  /** Returns the value or throws a reason string. */
  readonly parse: (source: Source) => T;
  /** Values of secret keys never appear in errors or logs. */
  readonly secret?: boolean;
}

// setInterval treats delays above 2^31-1 ms as 1 ms, so longer intervals
// would turn a periodic task into a busy loop.
const MAX_INTERVAL_SECONDS = Math.floor(0x7fffffff / 1000);
// PUT /metadata bodies are parsed as one string; longer ones cannot be.
const MAX_BODY_BYTES = bufferConstants.MAX_STRING_LENGTH;
const MAX_READER_THREADS = 1024;

class Invalid extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value);
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return 'a table';
  return String(value);
}

function uint(max: number): (source: Source) => number {
  return (source) => {
    let n: number;
    if (source.kind === 'env') {
      const text = source.value.trim();
      if (!/^\d+$/.test(text)) throw new Invalid(`must be a non-negative integer, got ${describe(source.value)}`);
      n = Number(text);
    } else {
      const v = source.value;
      if (typeof v === 'bigint') throw new Invalid(`must be at most ${max}, got ${v}`);
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
        throw new Invalid(`must be a non-negative integer, got ${describe(v)}`);
      }
      n = v;
    }
    if (n > max) throw new Invalid(`must be at most ${max}, got ${n}`);
    return n;
  };
}

function positive(parse: (source: Source) => number): (source: Source) => number {
  return (source) => {
    const n = parse(source);
    if (n === 0) throw new Invalid('must be at least 1');
    return n;
  };
}

function bool(source: Source): boolean {
  if (source.kind === 'file') {
    if (typeof source.value !== 'boolean') throw new Invalid(`must be true or false, got ${describe(source.value)}`);
    return source.value;
  }
  const text = source.value.trim().toLowerCase();
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new Invalid(`must be true or false, got ${describe(source.value)}`);
}

function text(options: { nonEmpty: boolean; secret?: boolean }): (source: Source) => string {
  return (source) => {
    const v = source.value;
    if (typeof v !== 'string')
      throw new Invalid(`must be a string, got ${options.secret ? 'another type' : describe(v)}`);
    if (options.nonEmpty && v.trim() === '') throw new Invalid('must not be empty');
    return v;
  };
}

/** Splits `host:port`; the host may be a bracketed IPv6 literal. Null if malformed. */
export function splitHostPort(address: string): { host: string; port: number } | null {
  const colon = address.lastIndexOf(':');
  if (colon <= 0) return null;
  let host = address.slice(0, colon);
  const portText = address.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port > 65535) return null;
  if (host.startsWith('[') && host.endsWith(']')) {
    host = host.slice(1, -1);
    if (!isIPv6(host)) return null;
  } else if (host.includes(':') || host.includes('[') || host.includes(']')) {
    return null;
  }
  if (host === '' || /\s|\//.test(host)) return null;
  return { host, port };
}

const ADDRESS_REASON = 'must be host:port with a port from 0 to 65535';

function address(source: Source): string {
  const v = text({ nonEmpty: true })(source).trim();
  if (splitHostPort(v) === null) throw new Invalid(`${ADDRESS_REASON}, got ${describe(v)}`);
  return v;
}

function addressList(source: Source): readonly string[] {
  let items: unknown[];
  if (typeof source.value === 'string') {
    // As the reference: "a,b". Blank items (a trailing comma) are dropped.
    items = source.value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  } else if (Array.isArray(source.value)) {
    items = source.value;
  } else {
    throw new Invalid(
      `must be an array of host:port strings or a comma-separated string, got ${describe(source.value)}`,
    );
  }
  return items.map((item, i) => {
    if (typeof item !== 'string' || splitHostPort(item.trim()) === null) {
      throw new Invalid(`item ${i} ${ADDRESS_REASON}, got ${describe(item)}`);
    }
    return item.trim();
  });
}

function storageKind(source: Source): 'file' | 'etcd' {
  const v = text({ nonEmpty: true })(source).trim();
  if (v !== 'file' && v !== 'etcd') throw new Invalid(`must be "file" or "etcd", got ${describe(v)}`);
  return v;
}

function endpointList(source: Source): readonly string[] {
  let items: unknown[];
  if (typeof source.value === 'string')
    items = source.value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  else if (Array.isArray(source.value)) items = source.value;
  else throw new Invalid(`must be an array of URLs or a comma-separated string, got ${describe(source.value)}`);
  return items.map((item, i) => {
    const url = typeof item === 'string' ? item.trim() : '';
    const match = /^(https?):\/\/([^/]+)\/?$/.exec(url);
    if (!match || splitHostPort(match[2]!) === null)
      throw new Invalid(`item ${i} must be http://host:port or https://host:port, got ${describe(item)}`);
    return url.replace(/\/$/, '');
  });
}

function etcdPrefix(source: Source): string {
  const v = text({ nonEmpty: true })(source);
  if (!v.startsWith('/') || !v.endsWith('/')) throw new Invalid(`must start and end with "/", got ${describe(v)}`);
  return v;
}

function optionalAddress(source: Source): string {
  const v = text({ nonEmpty: false })(source).trim();
  if (v !== '' && splitHostPort(v) === null) throw new Invalid(`${ADDRESS_REASON}, got ${describe(v)}`);
  return v;
}

/** A function, not a constant, so that the default keeps the wider type. */
function defaultStorage(): 'file' | 'etcd' {
  return 'file';
}

const SPECS = {
  address: { defaultValue: '127.0.0.1:7799', parse: address },
  failure_ttl: { defaultValue: 60, parse: uint(Number.MAX_SAFE_INTEGER) },
  // A u64 in the reference, so 0 is accepted: then any proxy with a report entry qualifies.
  failure_quorum: { defaultValue: 1, parse: uint(Number.MAX_SAFE_INTEGER) },
  migration_limit: { defaultValue: 1, parse: uint(Number.MAX_SAFE_INTEGER) },
  recover_from_meta_file: { defaultValue: false, parse: bool },
  meta_filename: { defaultValue: 'metadata', parse: text({ nonEmpty: true }) },
  auto_update_meta_file: { defaultValue: false, parse: bool },
  update_meta_file_interval: { defaultValue: 0, parse: uint(MAX_INTERVAL_SECONDS) },
  replica_addresses: { defaultValue: [] as readonly string[], parse: addressList },
  sync_meta_interval: { defaultValue: 0, parse: uint(MAX_INTERVAL_SECONDS) },
  debug: { defaultValue: false, parse: bool },
  api_token: { defaultValue: '', parse: text({ nonEmpty: false, secret: true }), secret: true },
  max_metadata_body_bytes: { defaultValue: 268435456, parse: positive(uint(MAX_BODY_BYTES)) },
  // 0: max_metadata_body_bytes plus 64 MiB, so that one restore and ordinary writes fit.
  max_body_bytes_in_flight: { defaultValue: 0, parse: uint(Number.MAX_SAFE_INTEGER) },
  min_body_bytes_per_second: { defaultValue: 1048576, parse: uint(Number.MAX_SAFE_INTEGER) },
  idle_timeout_seconds: { defaultValue: 10, parse: uint(MAX_INTERVAL_SECONDS) },
  reader_threads: { defaultValue: 0, parse: uint(MAX_READER_THREADS) },
  storage: { defaultValue: defaultStorage(), parse: storageKind },
  etcd_endpoints: { defaultValue: ['http://127.0.0.1:2379'] as readonly string[], parse: endpointList },
  etcd_prefix: { defaultValue: '/metabroker/', parse: etcdPrefix },
  etcd_lease_ttl: { defaultValue: 5, parse: positive(uint(3600)) },
  etcd_timeout_ms: { defaultValue: 2000, parse: positive(uint(600_000)) },
  etcd_max_txn_ops: { defaultValue: 128, parse: positive(uint(1_000_000)) },
  etcd_username: { defaultValue: '', parse: text({ nonEmpty: false }) },
  etcd_password: { defaultValue: '', parse: text({ nonEmpty: false, secret: true }), secret: true },
  etcd_ca_file: { defaultValue: '', parse: text({ nonEmpty: false }) },
  etcd_cert_file: { defaultValue: '', parse: text({ nonEmpty: false }) },
  etcd_key_file: { defaultValue: '', parse: text({ nonEmpty: false }) },
  advertise_address: { defaultValue: '', parse: optionalAddress },
} satisfies Record<string, KeySpec<unknown>>;

export type ConfigKey = keyof typeof SPECS;
type Values = { -readonly [K in ConfigKey]: (typeof SPECS)[K]['defaultValue'] };

/** Every key the file and the environment accept, in documentation order. */
export const CONFIG_KEYS: readonly ConfigKey[] = Object.freeze(Object.keys(SPECS) as ConfigKey[]);

export function envVarName(key: ConfigKey): string {
  return `UNDERMOON_${key.toUpperCase()}`;
}

function isSecret(key: ConfigKey): boolean {
  return (SPECS[key] as KeySpec<unknown>).secret === true;
}

function readTomlFile(path: string): Record<string, unknown> {
  if (path === '') throw new ConfigError(undefined, 'the config file path given as the first argument is empty');
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new ConfigError(undefined, `cannot read config file ${path}: ${(err as Error).message}`);
  }
  let source: string;
  try {
    source = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ConfigError(undefined, `config file ${path} is not valid UTF-8`);
  }
  try {
    // Big integers arrive as bigint so that they are rejected, not rounded.
    return parseToml(source, { integersAsBigInt: 'asNeeded', unsafeKeyBehaviour: 'throw' });
  } catch (err) {
    const detail =
      err instanceof TomlError ? `line ${err.line}, column ${err.column}: ${err.message.split('\n')[0]}` : String(err);
    throw new ConfigError(undefined, `config file ${path} is not valid TOML (${detail})`);
  }
}

function parseKey(key: ConfigKey, source: Source, where: string): unknown {
  try {
    return (SPECS[key] as KeySpec<unknown>).parse(source);
  } catch (err) {
    if (!(err instanceof Invalid)) throw err;
    const reason = isSecret(key) ? err.reason.replace(/, got .*$/, '') : err.reason;
    throw new ConfigError(key, reason, where);
  }
}

/**
 * Builds the configuration. `argv` is the argument list after the script
 * (its first item, if any, is the TOML file); `env` is usually process.env.
 * Throws ConfigError for an unreadable or invalid file, an unknown key in the
 * file, or a value of the wrong type or out of range.
 */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): BrokerConfig {
  const values = Object.fromEntries(CONFIG_KEYS.map((k) => [k, SPECS[k].defaultValue])) as Values;
  const configFile = argv[0] ?? null;

  if (configFile !== null) {
    const table = readTomlFile(configFile);
    const unknown = Object.keys(table)
      .filter((k) => !Object.hasOwn(SPECS, k))
      .sort();
    if (unknown.length > 0) {
      const others = unknown
        .slice(1)
        .map((k) => `"${k}"`)
        .join(', ');
      throw new ConfigError(unknown[0], `unknown key${others ? ` (also unknown: ${others})` : ''}`, configFile);
    }
    for (const key of CONFIG_KEYS) {
      if (Object.hasOwn(table, key)) {
        (values as Record<string, unknown>)[key] = parseKey(key, { kind: 'file', value: table[key] }, configFile);
      }
    }
  }

  for (const key of CONFIG_KEYS) {
    const name = envVarName(key);
    const raw = env[name];
    if (raw !== undefined) (values as Record<string, unknown>)[key] = parseKey(key, { kind: 'env', value: raw }, name);
  }

  const { host, port } = splitHostPort(values.address)!;
  if (values.storage === 'etcd' && values.advertise_address === '' && (host === '0.0.0.0' || host === '::')) {
    throw new ConfigError(
      'advertise_address',
      `must be set when address listens on every interface (${values.address}): other brokers forward writes to it`,
    );
  }
  if (values.max_body_bytes_in_flight !== 0 && values.max_body_bytes_in_flight < values.max_metadata_body_bytes) {
    throw new ConfigError(
      'max_body_bytes_in_flight',
      `must be 0 or at least max_metadata_body_bytes (${values.max_metadata_body_bytes}): a restore of that size must fit`,
    );
  }
  if ((values.etcd_cert_file === '') !== (values.etcd_key_file === '')) {
    throw new ConfigError(
      values.etcd_cert_file === '' ? 'etcd_cert_file' : 'etcd_key_file',
      'etcd_cert_file and etcd_key_file go together',
    );
  }
  return Object.freeze({
    address: values.address,
    host,
    port,
    failureTtl: values.failure_ttl,
    failureQuorum: values.failure_quorum,
    migrationLimit: values.migration_limit,
    recoverFromMetaFile: values.recover_from_meta_file,
    metaFilename: values.meta_filename,
    autoUpdateMetaFile: values.auto_update_meta_file,
    updateMetaFileInterval: values.update_meta_file_interval,
    replicaAddresses: Object.freeze([...values.replica_addresses]),
    syncMetaInterval: values.sync_meta_interval,
    debug: values.debug,
    apiToken: values.api_token,
    maxMetadataBodyBytes: values.max_metadata_body_bytes,
    maxBodyBytesInFlight:
      values.max_body_bytes_in_flight === 0
        ? values.max_metadata_body_bytes + (64 << 20)
        : values.max_body_bytes_in_flight,
    minBodyBytesPerSecond: values.min_body_bytes_per_second,
    idleTimeoutSeconds: values.idle_timeout_seconds,
    readerThreads: values.reader_threads,
    storage: values.storage,
    etcdEndpoints: Object.freeze([...values.etcd_endpoints]),
    etcdPrefix: values.etcd_prefix,
    etcdLeaseTtl: values.etcd_lease_ttl,
    etcdTimeoutMs: values.etcd_timeout_ms,
    etcdMaxTxnOps: values.etcd_max_txn_ops,
    etcdUsername: values.etcd_username,
    etcdPassword: values.etcd_password,
    etcdCaFile: values.etcd_ca_file,
    etcdCertFile: values.etcd_cert_file,
    etcdKeyFile: values.etcd_key_file,
    advertiseAddress: values.advertise_address === '' ? values.address : values.advertise_address,
    configFile,
  });
}

/** The configuration for the start log, keyed as in the file, with the token redacted. */
export function describeConfig(cfg: BrokerConfig): Record<string, unknown> {
  return {
    config_file: cfg.configFile,
    address: cfg.address,
    failure_ttl: cfg.failureTtl,
    failure_quorum: cfg.failureQuorum,
    migration_limit: cfg.migrationLimit,
    recover_from_meta_file: cfg.recoverFromMetaFile,
    meta_filename: cfg.metaFilename,
    auto_update_meta_file: cfg.autoUpdateMetaFile,
    update_meta_file_interval: cfg.updateMetaFileInterval,
    replica_addresses: [...cfg.replicaAddresses],
    sync_meta_interval: cfg.syncMetaInterval,
    debug: cfg.debug,
    api_token: cfg.apiToken === '' ? '' : '<redacted>',
    max_metadata_body_bytes: cfg.maxMetadataBodyBytes,
    max_body_bytes_in_flight: cfg.maxBodyBytesInFlight,
    min_body_bytes_per_second: cfg.minBodyBytesPerSecond,
    idle_timeout_seconds: cfg.idleTimeoutSeconds,
    reader_threads: cfg.readerThreads,
    storage: cfg.storage,
    etcd_endpoints: [...cfg.etcdEndpoints],
    etcd_prefix: cfg.etcdPrefix,
    etcd_lease_ttl: cfg.etcdLeaseTtl,
    etcd_timeout_ms: cfg.etcdTimeoutMs,
    etcd_max_txn_ops: cfg.etcdMaxTxnOps,
    etcd_username: cfg.etcdUsername,
    etcd_password: cfg.etcdPassword === '' ? '' : '<redacted>',
    etcd_ca_file: cfg.etcdCaFile,
    etcd_cert_file: cfg.etcdCertFile,
    etcd_key_file: cfg.etcdKeyFile,
    advertise_address: cfg.advertiseAddress,
  };
}
