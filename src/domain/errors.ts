/**
 * Every error code the broker answers with, in undermoon's spelling. HTTP
 * status lives in src/http/status.ts; the domain only names the condition.
 */
export const ERROR_CODES = {
  INVALID_CLUSTER_NAME: 'cluster name must be 1 to 30 characters of ASCII letters, digits, @, - or _',
  INVALID_NODE_NUMBER: 'node number must be a positive multiple of 4',
  INVALID_PROXY_ADDRESS: 'proxy address must be host:port',
  INVALID_MIGRATION_TASK: 'the slot range is not a migrating or importing range',
  INVALID_REQUEST: 'the request is malformed',
  CLUSTER_NOT_FOUND: 'no cluster of that name',
  PROXY_NOT_FOUND: 'no proxy at that address',
  MIGRATION_TASK_NOT_FOUND: 'no running migration matches',
  NOT_FOUND: 'no such route',
  ALREADY_EXISTED: 'it already exists',
  NO_AVAILABLE_RESOURCE: 'not enough free proxies',
  RESOURCE_NOT_BALANCE: 'free proxies are concentrated on too few hosts',
  IN_USE: 'the proxy serves a cluster',
  MIGRATION_RUNNING: 'the cluster has a migration running',
  NODE_NUM_ALREADY_ENOUGH: 'the cluster already has that many nodes',
  FREE_NODE_NOT_FOUND: 'the cluster has no chunk without slots',
  FREE_NODE_FOUND: 'the cluster has chunks without slots',
  SLOTS_ALREADY_EVEN: 'the cluster has no empty chunk to move slots to',
  INVALID_CONFIG: 'invalid cluster config',
  INVALID_META_VERSION: 'unsupported metadata version',
  EPOCH_SMALLER_THAN_CURRENT: 'the new epoch must be larger than the current one',
  BODY_TOO_LARGE: 'the request body is too large',
  UNAUTHORIZED: 'a valid bearer token is required',
  SERVICE_BUSY: 'too many requests are waiting; retry',
  RESTORE_IN_PROGRESS: 'another metadata restore is in progress; retry when it is answered',
  PERSISTENCE_IO_ERROR: 'the metadata file could not be written; nothing changed',
  NO_LEADER: 'no broker is the elected writer at the moment; retry',
  NOT_LEADER: 'this broker lost its leadership before the change was committed; nothing changed; retry',
  STORAGE_UNAVAILABLE: 'etcd did not confirm the change in time; retry',
  INTERNAL_ERROR: 'internal error; nothing changed',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface InvalidConfigDetails {
  readonly key: string;
  readonly value: string;
  readonly message: 'FIELD_NOT_FOUND' | 'INVALID_VALUE';
}

/** An error as plain data, safe to post between threads. */
export interface WireError {
  readonly code: ErrorCode;
  readonly message?: string;
  readonly details?: InvalidConfigDetails;
}

export class BrokerError extends Error {
  readonly code: ErrorCode;
  readonly details: InvalidConfigDetails | undefined;

  constructor(code: ErrorCode, message?: string, details?: InvalidConfigDetails) {
    super(message ?? ERROR_CODES[code]);
    this.name = 'BrokerError';
    this.code = code;
    this.details = details;
  }

  toWire(): WireError {
    const wire: { code: ErrorCode; message?: string; details?: InvalidConfigDetails } = { code: this.code };
    if (this.message !== ERROR_CODES[this.code]) wire.message = this.message;
    if (this.details) wire.details = this.details;
    return wire;
  }
}

/**
 * An error answered to the client while the command's changes stand: the
 * two exceptions in docs/api.md#a-failed-request-changes-nothing
 * (re-adding a proxy marks it recovered; failover without a replacement
 * keeps the takeover).
 */
export class PartialFailure extends BrokerError {}
