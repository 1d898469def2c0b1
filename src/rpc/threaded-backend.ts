/**
 * The threaded backend: writes go to the owner thread, reads to a piscina
 * pool of readers holding snapshot replicas, and answers are kept in an
 * in-process cache until something they depend on changes, so that a
 * coordinator polling unchanged data costs no thread round trip.
 *
 * Read-your-writes: the owner publishes a change before it answers, and the
 * cache drops what the change touched before the answer is passed on, so
 * every read sent after a write's answer sees that write.
 */
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { Command } from '../domain/commands.js';
import { BrokerError } from '../domain/errors.js';
import type { Backend } from '../service/backend.js';
import { allocateSnapshotBuffers, kGeneration } from '../snapshot/layout.js';
import type { SnapshotBuffers } from '../snapshot/layout.js';
import type { ChangeSummary, CommandReply, OwnerEvent, OwnerOptions, OwnerOutbound, QueryReply, QueryRequest, ReadSettings, ReaderReply, Timings } from './messages.js';
import { allocateReplySlot, ReplySlotWaiter } from './reply-slot.js';

export interface ThreadedOptions extends Omit<OwnerOptions, 'buffers' | 'outbound' | 'replySlot'> {
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

/**
 * A cached answer, held as the bytes written to the wire: encoding a string
 * per request costs more than everything else on the cached path.
 */
interface CacheEntry {
  generation: number;
  bytes: Buffer;
  readonly deps: readonly string[];
  /** For epoch templates: the bytes around its epoch number. */
  around?: readonly [Buffer, Buffer];
  /**
   * The change count at which this entry was last found fresh: while no
   * change arrives, it is fresh without looking at its dependencies.
   */
  checked: number;
}

type Freshness = 'fresh' | 'epochOnly' | 'stale';

/** Splits a proxy view body at its epoch number: `{"proxy":{"address":"…","epoch":` N `,…`. */
function splitAtEpoch(body: string): [Buffer, Buffer] | undefined {
  // Quotes inside the address are escaped, so this is the epoch field.
  const marker = '","epoch":';
  const at = body.indexOf(marker);
  if (at < 0) return undefined;
  const start = at + marker.length;
  let end = start;
  while (end < body.length && body.charCodeAt(end) >= 48 && body.charCodeAt(end) <= 57) end++;
  return end > start ? [Buffer.from(body.slice(0, start)), Buffer.from(body.slice(end))] : undefined;
}

const LOCAL = { local: true } as const;

/** Default for ThreadedOptions.replyWaitMs where writes are in memory only. */
const REPLY_WAIT_MS = 2;

export class ThreadedBackend implements Backend {
  private readonly owner: Worker;
  private readonly outbound: MessagePort;
  private readonly replySlot: ReplySlotWaiter;
  private readonly replyWaitMs: number;
  private readonly pool: Piscina;
  private readonly control: Int32Array;
  private readonly pending = new Map<number, { resolve: (r: CommandReply) => void; reject: (e: Error) => void; kind: string; sentAt: number }>();
  private nextId = 1;
  private closing: Promise<void> | null = null;
  private readonly cache = new Map<string, CacheEntry>();
  /** GET /failures answers are keyed by the second; only the newest is kept. */
  private failuresKey: string | null = null;
  /** Generation at which each dependency last changed. */
  private readonly changedAt = new Map<string, number>();
  /** Change summaries received so far (see CacheEntry.checked). */
  private changeCount = 0;
  private ownerExit: Error | null = null;
  /** etcd mode: this broker's role and the leader's URL (null while there is none). */
  private role: 'leader' | 'follower' = 'follower';
  private leaderUrl: string | null = null;
  /** Newest storage revision published here, and the reads waiting for one. */
  private appliedRevision = 0;
  private revisionWaiters: { revision: number; resolve: () => void }[] = [];
  /** Newest generation the front end was told about, and its global epoch. */
  private knownGeneration: number;
  private knownEpoch: number;

  private constructor(
    private readonly options: ThreadedOptions,
    readonly buffers: SnapshotBuffers,
    owner: Worker,
    outbound: MessagePort,
    replySlot: SharedArrayBuffer,
    ready: { generation: number; globalEpoch: number },
  ) {
    this.owner = owner;
    this.outbound = outbound;
    this.replySlot = new ReplySlotWaiter(replySlot);
    this.replyWaitMs = options.replyWaitMs ?? (options.etcd || options.autoUpdateMetaFile ? 0 : REPLY_WAIT_MS);
    this.knownGeneration = ready.generation;
    this.knownEpoch = ready.globalEpoch;
    this.control = new Int32Array(buffers.control);
    const threads = options.readerThreads > 0 ? options.readerThreads : Math.max(1, availableParallelism() - 1);
    const settings: ReadSettings = options.settings;
    this.pool = new Piscina({
      filename: new URL('../../workers/query.js', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 2 ** 31 - 1,
      maxQueue: options.maxQueuedReads ?? 4096,
      workerData: { buffers, settings },
    });
    outbound.on('message', (m: OwnerOutbound) => this.onOwnerMessage(m));
    owner.on('exit', (code) => {
      this.ownerExit = new Error(`owner thread exited with code ${code}`);
      for (const p of this.pending.values()) p.reject(this.ownerExit);
      this.pending.clear();
      if (!this.closing) options.onOwnerLost?.(this.ownerExit);
    });
    owner.on('error', (err) => {
      this.ownerExit = err;
    });
  }

  /** Starts the owner (loading the metadata file if configured) and the reader pool. */
  static async start(options: ThreadedOptions): Promise<ThreadedBackend> {
    const buffers = allocateSnapshotBuffers();
    const channel = new MessageChannel();
    // The worker keeps the process alive while it runs; this port must not on its own.
    channel.port1.unref();
    const replySlot = allocateReplySlot();
    const ownerOptions: OwnerOptions = {
      buffers,
      outbound: channel.port2,
      replySlot,
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
    };
    const owner = new Worker(new URL('../../workers/owner.js', import.meta.url), {
      workerData: ownerOptions,
      transferList: [channel.port2],
    });
    let ready = { generation: 0, globalEpoch: 0 };
    await new Promise<void>((resolve, reject) => {
      const onMessage = (m: OwnerOutbound) => {
        if (m.type === 'ready') {
          ready = { generation: m.generation, globalEpoch: m.globalEpoch };
          done(null);
        } else if (m.type === 'fatal') done(new Error(m.message));
      };
      const onExit = (code: number) => done(new Error(`owner thread exited with code ${code} during start`));
      const onError = (err: Error) => done(err);
      const done = (err: Error | null) => {
        channel.port1.off('message', onMessage);
        owner.off('exit', onExit);
        owner.off('error', onError);
        if (err) reject(err);
        else resolve();
      };
      channel.port1.on('message', onMessage);
      owner.on('exit', onExit);
      owner.on('error', onError);
    });
    return new ThreadedBackend(options, buffers, owner, channel.port1, replySlot, ready);
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
      const timer = setTimeout(done, timeoutMs);
      const waiter = { revision, resolve: done };
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.revisionWaiters.push(waiter);
    });
  }

  cached(q: QueryRequest): QueryReply | null {
    const key = cacheKey(q);
    const hit = key === null ? null : this.lookup(key);
    return hit === null ? null : { generation: hit.generation, body: hit.bytes.toString('utf8') };
  }

  /** The bytes of a fresh cached answer, or null: what the front end writes as is. */
  cachedBytes(q: QueryRequest): Uint8Array | null {
    const key = cacheKey(q);
    return key === null ? null : (this.lookup(key)?.bytes ?? null);
  }

  private lookup(key: string): CacheEntry | null {
    const hit = this.cache.get(key);
    if (!hit) return null;
    if (hit.checked === this.changeCount) return hit;
    const freshness = this.freshness(hit);
    if (freshness === 'stale') return null;
    if (freshness === 'epochOnly') {
      if (!hit.around) return null;
      // Only the global epoch moved: the same view at the newest known
      // generation, without a reader round trip.
      hit.bytes = Buffer.concat([hit.around[0], Buffer.from(String(this.knownEpoch)), hit.around[1]]);
      hit.generation = this.knownGeneration;
    }
    hit.checked = this.changeCount;
    return hit;
  }

  async query(q: QueryRequest): Promise<QueryReply> {
    const key = cacheKey(q);
    if (key !== null) {
      const hit = this.lookup(key);
      if (hit) return { generation: hit.generation, body: hit.bytes.toString('utf8') };
    }
    let reply: ReaderReply;
    try {
      reply = (await this.pool.run(q)) as ReaderReply;
    } catch (err) {
      if (err instanceof Error && /queue.*(full|limit)/i.test(err.message)) throw new BrokerError('SERVICE_BUSY');
      throw err;
    }
    // An empty body is never cached: cachedBytes() promises bytes to write.
    if (key !== null && reply.deps !== null && reply.body !== '') {
      if (this.cache.size >= (this.options.maxCachedAnswers ?? 200_000)) this.cache.clear();
      if (q.name === 'failures') {
        if (this.failuresKey !== null && this.failuresKey !== key) this.cache.delete(this.failuresKey);
        this.failuresKey = key;
      }
      const bytes = Buffer.from(reply.body);
      const entry: CacheEntry = { generation: reply.generation, bytes, deps: reply.deps, checked: -1 };
      if (reply.epochTemplate) entry.around = splitAtEpoch(reply.body);
      this.cache.set(key, entry);
    }
    return reply;
  }

  command(cmd: Command): Promise<CommandReply> {
    if (this.closing || this.ownerExit) return Promise.resolve({ ok: false, generation: this.generation(), error: { code: 'SERVICE_BUSY', message: 'the broker is shutting down' } });
    if (this.pending.size >= (this.options.maxPendingWrites ?? 10_000)) {
      return Promise.resolve({ ok: false, generation: this.generation(), error: { code: 'SERVICE_BUSY' } });
    }
    const id = this.nextId++;
    return new Promise<CommandReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, kind: cmd.kind, sentAt: performance.now() });
      // Waiting makes sense only when nothing is queued ahead at the owner.
      const wait = this.replyWaitMs > 0 && this.pending.size === 1;
      if (wait) this.replySlot.expect(id);
      this.owner.postMessage({ type: 'command', id, cmd });
      if (wait) this.awaitReply();
    });
  }

  /**
   * Sleeps briefly for the answer in the reply slot. Messages the owner
   * posted before it are handled first, so changes are still noted in the
   * order the owner published them.
   */
  private awaitReply(): void {
    const answer = this.replySlot.wait(this.replyWaitMs) as OwnerOutbound | null;
    if (answer === null) return;
    for (let m = receiveMessageOnPort(this.outbound); m !== undefined; m = receiveMessageOnPort(this.outbound)) {
      this.onOwnerMessage(m.message as OwnerOutbound);
    }
    this.onOwnerMessage(answer);
  }

  /** Stops taking writes, waits for those in flight, flushes the owner and stops every thread. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      while (this.pending.size > 0) await new Promise((r) => setTimeout(r, 5));
      if (!this.ownerExit) {
        await new Promise<void>((resolve) => {
          this.outbound.on('message', (m: OwnerOutbound) => m.type === 'closed' && resolve());
          this.owner.once('exit', () => resolve());
          this.owner.postMessage({ type: 'close' });
        });
        await this.owner.terminate();
      }
      await this.pool.destroy();
      this.outbound.close();
    })();
    return this.closing;
  }

  private freshness(entry: CacheEntry): Freshness {
    if ((this.changedAt.get('#full') ?? -1) > entry.generation) return 'stale';
    let result: Freshness = 'fresh';
    for (const dep of entry.deps) {
      if ((this.changedAt.get(dep) ?? -1) <= entry.generation) continue;
      if (dep !== '#epoch') return 'stale';
      result = 'epochOnly';
    }
    return result;
  }

  private noteChanges(c: ChangeSummary): void {
    this.changeCount += 1;
    if (c.revision > this.appliedRevision) {
      this.appliedRevision = c.revision;
      if (this.revisionWaiters.length > 0) {
        const ready = this.revisionWaiters.filter((w) => w.revision <= c.revision);
        this.revisionWaiters = this.revisionWaiters.filter((w) => w.revision > c.revision);
        for (const w of ready) w.resolve();
      }
    }
    const g = c.generation;
    if (g > this.knownGeneration) {
      this.knownGeneration = g;
      this.knownEpoch = c.globalEpoch;
    }
    const mark = (dep: string) => {
      if ((this.changedAt.get(dep) ?? -1) < g) this.changedAt.set(dep, g);
    };
    mark('#any');
    for (const name of c.clusters) mark(`c:${name}`);
    for (const address of c.proxies) mark(`p:${address}`);
    if (c.failures) mark('#failures');
    if (c.failed) mark('#failed');
    if (c.epoch) mark('#epoch');
    if (c.keys) mark('#keys');
    if (c.full) {
      mark('#full');
      // Every per-key mark is superseded by #full; drop them to bound memory.
      for (const k of [...this.changedAt.keys()]) if (!k.startsWith('#')) this.changedAt.delete(k);
      this.cache.clear();
    }
  }

  private onOwnerMessage(m: OwnerOutbound): void {
    switch (m.type) {
      case 'reply': {
        const p = this.pending.get(m.id);
        if (m.changes) this.noteChanges(m.changes);
        if (p) {
          this.pending.delete(m.id);
          this.options.onCommandTimings?.(m.timings, performance.now() - p.sentAt);
          p.resolve(m.reply);
        }
        return;
      }
      case 'changed':
        this.noteChanges(m.changes);
        return;
      case 'event':
        if (m.event.kind === 'role') {
          this.role = m.event.role;
          this.leaderUrl = m.event.leader?.url ?? null;
        }
        this.options.onEvent?.(m.event);
        return;
      default:
        return;
    }
  }
}

function cacheKey(q: QueryRequest): string | null {
  switch (q.name) {
    case 'clusterMeta':
      return `c ${q.cluster}`;
    case 'proxyMeta':
      return `p ${q.address}`;
    case 'clusterNames':
    case 'proxyAddresses':
      return `${q.name} ${q.offset ?? ''} ${q.limit ?? ''}`;
    case 'failures':
      return `failures ${q.now}`;
    case 'failedProxies':
    case 'metadata':
      return q.name;
    case 'checkResources':
      return null;
  }
}
