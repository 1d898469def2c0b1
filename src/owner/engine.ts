/**
 * The owner's write path, the same whatever the storage: commands run one at
 * a time in arrival order; each is prepared on the store, made durable by
 * the storage, published to the readers, and only then answered. A command
 * whose commit fails is rolled back and never published. Changes that come
 * from elsewhere (a follower applying the leader's writes) take the same
 * queue, so they never interleave with a command.
 */
import { performance } from 'node:perf_hooks';
import { checkMetadata } from '../domain/check.js';
import { ALL_CHANGED, prepareCommand } from '../domain/commands.js';
import type { Command } from '../domain/commands.js';
import { Draft, replaceStore } from '../domain/store.js';
import type { ChangeSet } from '../domain/store.js';
import type { MutableStore } from '../domain/types.js';
import type { Logger } from '../log.js';
import type { ChangeSummary, CommandReply, ReadSettings, Timings } from '../rpc/messages.js';
import { commandBody } from '../service/write-bodies.js';
import { summarizeChanges } from '../service/changes.js';
import type { SnapshotText } from '../snapshot/layout.js';
import type { SnapshotPublisher } from '../snapshot/publisher.js';
import { StorageError } from '../storage/storage.js';
import type { Storage } from '../storage/storage.js';

export interface Executed {
  readonly reply: CommandReply;
  readonly changes: ChangeSummary | null;
  readonly timings: Timings;
}

export interface EngineOptions {
  readonly settings: ReadSettings;
  readonly debug: boolean;
  readonly log: Logger;
  readonly now: () => number;
}

export class OwnerEngine {
  private tail: Promise<unknown> = Promise.resolve();
  /** Storage revision of the newest published change (0 without one). */
  revision = 0;

  constructor(
    readonly store: MutableStore,
    private readonly publisher: SnapshotPublisher,
    private storage: Storage,
    private readonly options: EngineOptions,
  ) {}

  get generation(): number {
    return this.publisher.generation;
  }

  useStorage(storage: Storage): void {
    this.storage = storage;
  }

  /** Runs `task` after everything queued before it. */
  serial<T>(task: () => T | Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** `text`: for a restore, its store's snapshot text, when it is at hand (see SnapshotPublisher). */
  execute(cmd: Command, text?: SnapshotText): Promise<Executed> {
    return this.serial(() => this.apply(cmd, text));
  }

  private async apply(cmd: Command, text: SnapshotText | undefined): Promise<Executed> {
    const started = performance.now();
    const refused = this.storage.writable();
    if (refused) return this.failed(refused.code, refused.message, started, 0);
    const prepared = prepareCommand(this.store, cmd, {
      now: this.options.now(),
      migrationLimit: this.options.settings.migrationLimit,
    });
    const { outcome } = prepared;
    const applyMs = performance.now() - started;
    let persistMs = 0;
    let revision = this.revision;
    if (outcome.changes !== null) {
      const persistStart = performance.now();
      try {
        const committed = this.storage.commit({
          kind: cmd.kind,
          next: prepared.next,
          changes: outcome.changes,
          replacesStore: prepared.replacesStore,
        });
        revision = typeof committed === 'number' ? committed : await committed;
      } catch (err) {
        prepared.rollback();
        persistMs = performance.now() - persistStart;
        if (err instanceof StorageError) {
          this.options.log.error(
            { err: err.message, code: err.code, command: cmd.kind },
            'change not committed; rolled back',
          );
          return this.failed(err.code, err.message, started, persistMs);
        }
        this.options.log.error({ err: String(err), command: cmd.kind }, 'command failed unexpectedly; rolled back');
        return this.failed('INTERNAL_ERROR', undefined, started, persistMs);
      }
      persistMs = performance.now() - persistStart;
    }
    let changes: ChangeSummary | null = null;
    let publishMs = 0;
    if (outcome.changes !== null) {
      const committed = prepared.commit();
      const publishStart = performance.now();
      changes = prepared.replacesStore ? await this.publishReplaced(revision, text) : this.publish(committed, revision);
      publishMs = performance.now() - publishStart;
    }
    const generation = this.publisher.generation;
    const reply: CommandReply = outcome.ok
      ? { ok: true, generation, revision: this.revision, body: commandBody(cmd.kind, outcome.value) }
      : { ok: false, generation, revision: this.revision, error: outcome.error };
    return { reply, changes, timings: { kind: cmd.kind, applyMs, persistMs, publishMs } };
  }

  private failed(
    code: StorageError['code'] | 'INTERNAL_ERROR',
    message: string | undefined,
    started: number,
    persistMs: number,
  ): Executed {
    const error = message === undefined ? { code } : { code, message };
    return {
      reply: { ok: false, generation: this.publisher.generation, revision: this.revision, error },
      changes: null,
      timings: { kind: 'refused', applyMs: performance.now() - started - persistMs, persistMs, publishMs: 0 },
    };
  }

  private publish(changes: ChangeSet, revision: number): ChangeSummary {
    if (revision > this.revision) this.revision = revision;
    const generation = this.publisher.publish(this.store, changes);
    return this.published(generation, changes, false);
  }

  /** The whole store was replaced: published once the readers hold it (see SnapshotPublisher). */
  private async publishReplaced(revision: number, text?: SnapshotText): Promise<ChangeSummary> {
    if (revision > this.revision) this.revision = revision;
    const generation = await this.publisher.publishReplaced(this.store, text);
    return this.published(generation, ALL_CHANGED, true);
  }

  private published(generation: number, changes: ChangeSet, full: boolean): ChangeSummary {
    if (this.options.debug) {
      const problems = checkMetadata(this.store);
      if (problems.length > 0)
        this.options.log.error({ problems: problems.slice(0, 20) }, 'metadata inconsistent after a change');
    }
    return summarizeChanges(generation, this.store.globalEpoch, this.revision, changes, full);
  }

  /**
   * Applies a change that is already durable (a follower following the
   * leader) and publishes it. Null when it changed nothing.
   */
  applyDurable(mutate: (draft: Draft) => void, revision: number): ChangeSummary | null {
    const draft = new Draft(this.store);
    try {
      mutate(draft);
    } catch (err) {
      draft.rollback();
      throw err;
    }
    const changes = draft.commit();
    if (revision > this.revision) this.revision = revision;
    const touched =
      changes.epoch || changes.clusters.size + changes.proxies.size + changes.failed.size + changes.failures.size > 0;
    return touched ? this.publish(changes, revision) : null;
  }

  /** Replaces the whole store with one that is already durable, and publishes it. */
  replaceDurable(next: MutableStore, revision: number): Promise<ChangeSummary> {
    replaceStore(this.store, next);
    this.revision = revision;
    return this.publishReplaced(revision);
  }
}
