/**
 * The seam where the owner makes a change durable before anyone can see
 * it: the metadata file (one broker) or etcd (several brokers, one elected
 * writer). The owner prepares a command on its store, hands the result to
 * `commit`, and publishes it only when that succeeds; when it throws, the
 * owner rolls the command back and answers with the error's code.
 */
import type { CommandKind } from '../domain/commands.js';
import type { ErrorCode } from '../domain/errors.js';
import type { ChangeSet } from '../domain/store.js';
import type { Draft } from '../domain/store.js';
import type { MutableStore } from '../domain/types.js';
import type { ChangeSummary } from '../rpc/messages.js';

export interface CommitRequest {
  readonly kind: CommandKind;
  /** The store as it will be once committed. */
  readonly next: MutableStore;
  readonly changes: ChangeSet;
  /** `next` replaces the whole store (a restore). */
  readonly replacesStore: boolean;
}

/** A commit that did not happen; `code` is what the client is answered. */
export class StorageError extends Error {
  constructor(
    readonly code: Extract<ErrorCode, 'PERSISTENCE_IO_ERROR' | 'NOT_LEADER' | 'NO_LEADER' | 'STORAGE_UNAVAILABLE'>,
    message: string,
  ) {
    super(message);
    this.name = 'StorageError';
  }
}

export interface Storage {
  /**
   * Makes a prepared change durable. Returns the storage revision that holds
   * it (0 when the storage has none), synchronously when it can.
   */
  commit(request: CommitRequest): number | Promise<number>;
  /** Whether a write may be attempted here now; otherwise the error to answer with at once. */
  writable(): StorageError | null;
}

/**
 * What a storage that follows other writers (etcd) needs of the owner:
 * its queue, and a way to publish changes that are already durable.
 */
export interface DurableTarget {
  /** Storage revision of the newest published change. */
  revision: number;
  serial<T>(task: () => T | Promise<T>): Promise<T>;
  applyDurable(mutate: (draft: Draft) => void, revision: number): ChangeSummary | null;
  replaceDurable(next: MutableStore, revision: number): Promise<ChangeSummary>;
}
