/**
 * Owner side of snapshot publication. After each committed change the
 * owner appends one change record to the shared log and then publishes the
 * new generation with an atomic store, so a reader that sees generation g
 * also sees every byte of records up to g. When the log is full, or the
 * whole store was replaced, a full snapshot is written instead and the log
 * restarts empty.
 *
 * A whole-store replacement (a restore) is staged first when there are
 * reader threads to warn: they decode the new store while they still answer
 * from the old one, and the new generation is published once they hold it
 * (or after a deadline). Reads never wait for a replica of hundreds of
 * megabytes to be decoded after the switch; writes wait for it before.
 */
import type { ChangeSet } from '../domain/store.js';
import type { MetaStore } from '../domain/types.js';
import { encodeChanges, encodeFull, sharedLines } from './codec.js';
import {
  align4,
  kBaseGeneration,
  kFullGeneration,
  kFullLength,
  kFullSeq,
  kGeneration,
  kLogEnd,
  RECORD_HEADER_BYTES,
} from './layout.js';
import { kStagedBase, kStagedReady } from './layout.js';
import type { SnapshotBuffers, SnapshotText, StagedSnapshot } from './layout.js';

/** The reader threads to warn of a whole-store replacement before it is published. */
export interface Preloading {
  readonly readers: number;
  /** Hands the staged snapshot to every reader thread. */
  announce(staged: StagedSnapshot): void;
  /** Longest wait for the readers; past it the snapshot is published anyway. */
  readonly timeoutMs: number;
}

export class SnapshotPublisher {
  private readonly control: Int32Array;
  private readonly logBytes: Buffer;
  private readonly logInts: Int32Array;
  private logEnd = 0;
  private gen: number;
  /** Full snapshots written, for metrics and tests. */
  fullWrites = 0;

  constructor(
    private readonly buffers: SnapshotBuffers,
    store: MetaStore,
    generation = 0,
    private readonly preloading: Preloading | null = null,
  ) {
    this.control = new Int32Array(buffers.control);
    this.logBytes = Buffer.from(buffers.log);
    this.logInts = new Int32Array(buffers.log);
    this.gen = generation;
    this.writeFull(encodeFull(store), generation);
    Atomics.store(this.control, kGeneration, generation);
  }

  get generation(): number {
    return this.gen;
  }

  /** Publishes the next generation; `changes === null` means the whole store was replaced. */
  publish(store: MetaStore, changes: ChangeSet | null): number {
    const next = this.gen + 1;
    const json = changes === null ? null : encodeChanges(store, changes);
    const length = json === null ? 0 : Buffer.byteLength(json);
    const need = RECORD_HEADER_BYTES + align4(length);
    if (json === null || this.logEnd + need > this.logBytes.length) {
      this.writeFull(encodeFull(store), next);
    } else {
      const at = this.logEnd;
      this.logInts[at >> 2] = next;
      this.logInts[(at >> 2) + 1] = length;
      this.logBytes.write(json, at + RECORD_HEADER_BYTES, length, 'utf8');
      this.logEnd = at + need;
      Atomics.store(this.control, kLogEnd, this.logEnd);
    }
    this.gen = next;
    Atomics.store(this.control, kGeneration, next);
    return next;
  }

  /**
   * Publishes a whole-store replacement as the next generation, once the
   * reader threads hold it (see Preloading). `text` is the store's snapshot
   * text when it is at hand already (a restore's, from its worker).
   */
  async publishReplaced(store: MetaStore, text?: SnapshotText): Promise<number> {
    const next = this.gen + 1;
    if (this.preloading !== null && this.preloading.readers > 0) {
      const staged = text ?? sharedLines([encodeFull(store)]);
      await this.stage(staged, next, this.preloading);
      this.writeFullBytes(Buffer.from(staged.bytes, 0, staged.length), next, true);
    } else if (text !== undefined) {
      this.writeFullBytes(Buffer.from(text.bytes, 0, text.length), next);
    } else {
      this.writeFull(encodeFull(store), next);
    }
    this.gen = next;
    Atomics.store(this.control, kGeneration, next);
    return next;
  }

  private async stage(text: SnapshotText, generation: number, preloading: Preloading): Promise<void> {
    Atomics.store(this.control, kStagedReady, 0);
    preloading.announce({ bytes: text.bytes, length: text.length, generation });
    const deadline = performance.now() + preloading.timeoutMs;
    for (;;) {
      const ready = Atomics.load(this.control, kStagedReady);
      const left = deadline - performance.now();
      if (ready >= preloading.readers || left <= 0) return;
      const wake = Atomics.waitAsync(this.control, kStagedReady, ready, left);
      if (!wake.async) continue;
      // A timer beside the wait: a pending Atomics.waitAsync alone does not keep the thread alive.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([wake.value, new Promise((resolve) => (timer = setTimeout(resolve, left)))]);
      clearTimeout(timer);
    }
  }

  private writeFull(json: string, generation: number): void {
    const length = Buffer.byteLength(json);
    this.underLock(length, generation, (full) => full.write(json, 0, length, 'utf8'), false);
  }

  /** `staged`: these bytes were handed to the readers as generation `generation` (stage()). */
  private writeFullBytes(bytes: Buffer, generation: number, staged = false): void {
    this.underLock(bytes.length, generation, (full) => bytes.copy(full), staged);
  }

  /**
   * Writes the whole store under the sequence lock, then restarts the log.
   * The base generation moves before any log byte is overwritten, which is
   * how readers detect that a record they copied may be torn.
   */
  private underLock(length: number, generation: number, fill: (full: Buffer) => void, staged: boolean): void {
    Atomics.add(this.control, kFullSeq, 1);
    if (this.buffers.full.byteLength < length)
      this.buffers.full.grow(
        Math.min(this.buffers.full.maxByteLength, Math.max(length, this.buffers.full.byteLength * 2)),
      );
    fill(Buffer.from(this.buffers.full));
    Atomics.store(this.control, kFullLength, length);
    Atomics.store(this.control, kFullGeneration, generation);
    Atomics.add(this.control, kFullSeq, 1);
    // Before the base moves: a reader that sees the new base and this mark may use its staged copy.
    Atomics.store(this.control, kStagedBase, staged ? generation : -1);
    Atomics.store(this.control, kBaseGeneration, generation);
    this.logEnd = 0;
    Atomics.store(this.control, kLogEnd, 0);
    this.fullWrites += 1;
  }
}
