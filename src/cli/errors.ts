/**
 * What can go wrong on the command line, each with its exit status, and the
 * words an operator reads: the broker's code, what it means (the server's
 * own table) and what to do (the table below, one hint per code).
 */
import { ERROR_CODES } from '../domain/errors.js';
import type { ErrorCode } from '../domain/errors.js';

export const EXIT = {
  ok: 0,
  /** The broker refused (4xx/5xx with a code), or its own checks refused the input before sending. */
  refused: 1,
  usage: 2,
  /** No broker URL answered (connection refused or timed out on every one). */
  unreachable: 3,
} as const;

/**
 * What to do about each code. Typed over every ErrorCode: a code added to the
 * broker without a hint here fails compilation.
 */
export const HINTS: Readonly<Record<ErrorCode, string>> = {
  INVALID_CLUSTER_NAME: 'choose a name of 1 to 30 characters among letters, digits, @, - and _.',
  INVALID_NODE_NUMBER: 'give a positive multiple of 4: a chunk is 2 proxies with 2 nodes each.',
  INVALID_PROXY_ADDRESS: 'write the proxy address as host:port, e.g. 10.0.0.1:5299.',
  INVALID_MIGRATION_TASK: 'commit only a range that `metabroker migrations ls` shows as migrating.',
  INVALID_REQUEST: "the broker's message above names the field or problem: fix the input and retry.",
  CLUSTER_NOT_FOUND: 'check the name with `metabroker clusters ls`.',
  PROXY_NOT_FOUND: 'check the address with `metabroker proxies ls`.',
  MIGRATION_TASK_NOT_FOUND: 'the migration may be committed already: see `metabroker migrations ls`.',
  NOT_FOUND: 'the broker does not know this route: check that --broker points at a mem_broker v2 API.',
  ALREADY_EXISTED:
    'pick another name, or remove the old one first ' +
    '(re-adding a known proxy still marks it recovered: that part was done).',
  NO_AVAILABLE_RESOURCE:
    'register more proxies (`metabroker proxies add`) or ask for fewer nodes; `metabroker status` counts free ones.',
  RESOURCE_NOT_BALANCE:
    "register free proxies on more hosts (`proxies add --host`): a chunk's two proxies must sit on different hosts.",
  IN_USE: 'shrink the cluster, or fail the proxy over (`metabroker failover ADDR`), before removing it.',
  MIGRATION_RUNNING:
    'wait until `metabroker migrations ls` shows none for this cluster (`metabroker status --watch`), then retry.',
  NODE_NUM_ALREADY_ENOUGH:
    'give a number above its size (`metabroker clusters show NAME`); to make it smaller, `clusters shrink`.',
  FREE_NODE_NOT_FOUND: 'every chunk holds slots, so there is nothing to remove: shrink the cluster first.',
  FREE_NODE_FOUND:
    '`metabroker clusters expand NAME` moves slots onto the empty chunks, `clusters rm-free-nodes NAME` drops them.',
  SLOTS_ALREADY_EVEN: 'no chunk is empty: add nodes first (`metabroker clusters add-nodes NAME N`), then expand.',
  INVALID_CONFIG:
    'known keys: compression_strategy (disabled, set_get_only, allow_all), migration_max_migration_time, ' +
    'migration_max_blocking_time, migration_scan_interval, migration_scan_count (whole numbers; scan_count above 0).',
  INVALID_META_VERSION: 'the document comes from another broker version: restore it on a broker of that version.',
  EPOCH_SMALLER_THAN_CURRENT: 'give a number above the current global epoch (`metabroker epoch show`).',
  BODY_TOO_LARGE: "raise max_metadata_body_bytes in the broker's configuration, or send a smaller document.",
  UNAUTHORIZED: "pass the broker's api_token with --token or the UNDERMOON_API_TOKEN environment variable.",
  SERVICE_BUSY: 'the broker is overloaded or stopping: retry in a moment.',
  RESTORE_IN_PROGRESS: 'another restore is being checked or applied: retry once it is answered.',
  PERSISTENCE_IO_ERROR:
    'the broker could not write its metadata file (disk full? read-only?): check its logs, fix the disk, retry.',
  NO_LEADER:
    'no broker leads the etcd group right now (an election is under way, or etcd lost its quorum): retry in a few seconds.',
  NOT_LEADER:
    'the broker lost its leadership during the write and changed nothing: retry, any broker forwards to the new leader.',
  STORAGE_UNAVAILABLE:
    'etcd did not confirm the change in time; it may or may not have been applied: check with a read, then retry.',
  INTERNAL_ERROR:
    "a broker bug, nothing changed: check the broker's logs (journalctl -u metabroker), report it, retry.",
};

function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/** An error the command line reports and exits on. */
export abstract class CliError extends Error {
  abstract readonly exitCode: number;
  /** The lines printed to stderr. */
  abstract describe(): string[];
}

/** Bad arguments or input: exit 2. */
export class UsageError extends CliError {
  readonly exitCode = EXIT.usage;
  describe(): string[] {
    return [`error: ${this.message}`];
  }
}

/** Nothing was done, on purpose (a declined confirmation): exit 1. */
export class Declined extends CliError {
  readonly exitCode = EXIT.refused;
  describe(): string[] {
    return [this.message];
  }
}

/** Every URL failed to answer: exit 3. */
export class BrokerUnreachable extends CliError {
  readonly exitCode = EXIT.unreachable;
  constructor(readonly failures: readonly string[]) {
    super(`cannot reach the broker (${failures.join('; ')})`);
  }
  describe(): string[] {
    return [
      'error: cannot reach the broker:',
      ...this.failures.map((f) => `  ${f}`),
      'what to do: check --broker (or METABROKER_URL) and that the broker is running (`metabroker serve`).',
    ];
  }
}

/** A 2xx answer that is not the broker's JSON: something else listens at --broker. Exit 1. */
export class UnexpectedAnswer extends CliError {
  readonly exitCode = EXIT.refused;
  describe(): string[] {
    return [`error: ${this.message}`, 'what to do: check that --broker (or METABROKER_URL) points at a metabroker.'];
  }
}

/** A refusal with the broker's code: exit 1. */
export class BrokerRefusal extends CliError {
  readonly exitCode = EXIT.refused;

  constructor(
    readonly code: string,
    /** The HTTP status, or null when the broker's checks ran locally. */
    readonly status: number | null,
    /** The broker's own words: INVALID_REQUEST's message, INVALID_CONFIG's key/value/reason. */
    readonly detail: string | undefined,
    readonly context: string,
  ) {
    super(`${code}${detail === undefined ? '' : `: ${detail}`}`);
  }

  /** The refusal in an error answer; a body that is not the broker's JSON keeps the HTTP status as its code. */
  static fromAnswer(status: number, text: string, context: string): BrokerRefusal {
    let body: Record<string, unknown> = {};
    try {
      const parsed = JSON.parse(text) as unknown;
      if (parsed !== null && typeof parsed === 'object') body = parsed as Record<string, unknown>;
    } catch {
      // not JSON: described by its status below
    }
    const code = typeof body.error === 'string' ? body.error : `HTTP_${status}`;
    let detail: string | undefined;
    if (typeof body.key === 'string') detail = `${body.key}=${String(body.value)}: ${String(body.message)}`;
    else if (typeof body.message === 'string') detail = body.message;
    else if (typeof body.error !== 'string' && text.trim() !== '') detail = text.trim().slice(0, 200);
    return new BrokerRefusal(code, status, detail, context);
  }

  get meaning(): string {
    return isErrorCode(this.code)
      ? ERROR_CODES[this.code]
      : `the broker answered HTTP ${this.status ?? '?'} without a known code`;
  }

  get hint(): string {
    return isErrorCode(this.code) ? HINTS[this.code] : 'check the broker URL and its logs.';
  }

  describe(): string[] {
    let where = this.context;
    if (this.status === null) where = `refused by the broker's own checks, run here before sending; ${this.context}`;
    else if (this.status >= 400) where = `refused by the broker, HTTP ${this.status}; ${this.context}`;
    const lines = [`error: ${this.code}: ${this.meaning} (${where})`];
    if (this.detail !== undefined) lines.push(`  broker says: ${this.detail}`);
    lines.push(`what to do: ${this.hint}`);
    return lines;
  }
}
