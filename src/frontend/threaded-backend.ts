/**
 * The threaded backend: writes go to the owner thread (owner-client.ts),
 * reads to a pool of readers holding snapshot replicas (reader-pool.ts),
 * and answers are kept in the answer cache (answer-cache.ts) until
 * something they depend on changes, so that a coordinator polling
 * unchanged data costs no thread round trip.
 *
 * Read-your-writes: the owner publishes a change before it answers, and the
 * cache marks what the change touched before the answer is passed on, so
 * every read sent after a write's answer sees that write.
 */
import type { Command } from '../domain/commands.js';
import type { Backend, CachedAnswer } from '../rpc/backend.js';
import type {
  ChangeSummary,
  CommandReply,
  OwnerEvent,
  OwnerOptions,
  QueryReply,
  QueryRequest,
  Timings,
} from '../rpc/messages.js';
import { allocateSnapshotBuffers, kGeneration } from '../snapshot/layout.js';
import type { SnapshotBuffers } from '../snapshot/layout.js';
import { AnswerCache, cacheKey } from './answer-cache.js';
import type { CacheEntry } from './answer-cache.js';
import { OwnerClient } from './owner-client.js';
import { ReaderPool } from './reader-pool.js';

export interface ThreadedOptions extends Omit<OwnerOptions, 'buffers' | 'outbound' | 'replySlot' | 'preload'> {
  /** Reader threads; 0 picks one per core beyond the front end's, at least 1. */
  readonly readerThreads: number;
  /** Writes waiting for the owner before new ones are refused with SERVICE_BUSY. */
  readonly maxPendingWrites?: number;
  /** Reads waiting for a reader before new ones are refused with SERVICE_BUSY. */
  readonly maxQueuedReads?: number;
  /** Answers kept in the front end's cache before it is cleared. */
  readonly maxCachedAnswers?: number;
  /**
   * How long the front end sleeps for a write's answer before it lets the
   * answer come by message (see reply-slot.ts); 0 never waits. Default: 2 ms
   * in file mode without a per-write file update, where a write takes well
   * under a millisecond; 0 otherwise.
   */
  readonly replyWaitMs?: number;
  readonly onEvent?: (event: OwnerEvent) => void;
  /** Per write: the owner's own timings, and the round trip seen from here. */
  readonly onCommandTimings?: (timings: Timings, roundTripMs: number) => void;
  /** The owner thread died while the broker was running: no write can be applied any more. */
  readonly onOwnerLost?: (error: Error) => void;
}

const LOCAL = { local: true } as const;

/** Default for ThreadedOptions.replyWaitMs where writes are in memory only. */
const REPLY_WAIT_MS = 2;

export class ThreadedBackend implements Backend {
  private owner!: OwnerClient;
  private cache!: AnswerCache;
  private readonly readers: ReaderPool;
  private readonly control: Int32Array;
  /** etcd mode: this broker's role and the leader's URL (null while there is none). */
  private role: 'leader' | 'follower' = 'follower';
  private leaderUrl: string | null = null;
  /** Newest storage revision published here, and the forwarded writes waiting for one. */
  private appliedRevision = 0;
  private revisionWaiters: { revision: number; resolve: () => void }[] = [];

  private constructor(
    private readonly options: ThreadedOptions,
    readonly buffers: SnapshotBuffers,
  ) {
    this.control = new Int32Array(buffers.control);
    this.readers = new ReaderPool(buffers, options.settings, options.readerThreads, options.maxQueuedReads ?? 4096);
  }

  /** Starts the owner (loading the metadata file or etcd, as configured) and the reader pool. */
  static async start(options: ThreadedOptions): Promise<ThreadedBackend> {
    const buffers = allocateSnapshotBuffers();
    const backend = new ThreadedBackend(options, buffers);
    const ownerOptions: Omit<OwnerOptions, 'outbound' | 'replySlot'> = {
      buffers,
      settings: options.settings,
      metaFilename: options.metaFilename,
      recoverFromMetaFile: options.recoverFromMetaFile,
      autoUpdateMetaFile: options.autoUpdateMetaFile,
      updateMetaFileIntervalSec: options.updateMetaFileIntervalSec,
      replicaAddresses: options.replicaAddresses,
      syncMetaIntervalSec: options.syncMetaIntervalSec,
      apiToken: options.apiToken,
      debug: options.debug,
      etcd: options.etcd,
      preload: { readers: backend.readers.threads, channel: backend.readers.stagingChannel },
    };
    try {
      const replyWaitMs = options.replyWaitMs ?? (options.etcd || options.autoUpdateMetaFile ? 0 : REPLY_WAIT_MS);
      const limits = { maxPending: options.maxPendingWrites ?? 10_000, replyWaitMs };
      const started = await OwnerClient.start(ownerOptions, limits, {
        onChanges: (c) => backend.noteChanges(c),
        onEvent: (e) => backend.onEvent(e),
        onTimings: (t, ms) => options.onCommandTimings?.(t, ms),
        onLost: (err) => options.onOwnerLost?.(err),
      });
      backend.owner = started.client;
      backend.cache = new AnswerCache(started, options.maxCachedAnswers ?? 200_000);
      started.client.replay();
    } catch (err) {
      await backend.readers.destroy();
      throw err;
    }
    return backend;
  }

  generation(): number {
    return Atomics.load(this.control, kGeneration);
  }

  /**
   * Where a write goes: applied here (file mode, or the etcd leader),
   * forwarded to the leader's URL, or refused at once when there is none.
   */
  writeTarget(): { readonly local: true } | { readonly local: false; readonly url: string | null } {
    if (!this.options.etcd || this.role === 'leader') return LOCAL;
    return { local: false, url: this.leaderUrl };
  }

  /** Resolves once a change at `revision` or later is published here, or after `timeoutMs`. */
  waitForRevision(revision: number, timeoutMs: number): Promise<void> {
    if (revision <= this.appliedRevision) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.revisionWaiters.push({ revision, resolve: done });
    });
  }

  cached(q: QueryRequest): QueryReply | null {
    const key = cacheKey(q);
    const hit = key === null ? null : this.cache.lookup(key);
    return hit === null ? null : { generation: hit.generation, body: hit.bytes.toString('utf8') };
  }

  cacheKey(q: QueryRequest): string | null {
    return cacheKey(q);
  }

  cachedAnswer(key: string): CachedAnswer | null {
    return this.cache.lookup(key);
  }

  /** The bytes of a fresh cached answer, or null: what the front end writes as is. */
  freshBytes(answer: CachedAnswer): Uint8Array | null {
    // Handles come from cachedAnswer() above: they are this cache's entries.
    return this.cache.fresh(answer as CacheEntry)?.bytes ?? null;
  }

  async query(q: QueryRequest): Promise<QueryReply> {
    const key = cacheKey(q);
    if (key !== null) {
      const hit = this.cache.lookup(key);
      if (hit) return { generation: hit.generation, body: hit.bytes.toString('utf8') };
    }
    const reply = await this.readers.run(q);
    if (key !== null) this.cache.store(q, key, reply);
    return reply;
  }

  restore(body: Uint8Array): Promise<CommandReply> {
    return this.owner.restore(body);
  }

  command(cmd: Command): Promise<CommandReply> {
    return this.owner.command(cmd);
  }

  private closing: Promise<void> | null = null;

  /** Stops taking writes, waits for those in flight, flushes the owner and stops every thread. */
  close(): Promise<void> {
    this.closing ??= this.owner.close().then(() => this.readers.destroy());
    return this.closing;
  }

  private noteChanges(c: ChangeSummary): void {
    this.cache.noteChanges(c);
    if (c.revision <= this.appliedRevision) return;
    this.appliedRevision = c.revision;
    if (this.revisionWaiters.length === 0) return;
    const ready = this.revisionWaiters.filter((w) => w.revision <= c.revision);
    this.revisionWaiters = this.revisionWaiters.filter((w) => w.revision > c.revision);
    for (const w of ready) w.resolve();
  }

  private onEvent(event: OwnerEvent): void {
    if (event.kind === 'role') {
      this.role = event.role;
      this.leaderUrl = event.leader?.url ?? null;
    }
    this.options.onEvent?.(event);
  }
}
