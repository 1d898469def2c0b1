/**
 * Owner side of snapshot publication. After each committed change the
 * owner appends one change record to the shared log and then publishes the
 * new generation with an atomic store, so a reader that sees generation g
 * also sees every byte of records up to g. When the log is full, or the
 * whole store was replaced, a full snapshot is written instead and the log
 * restarts empty.
 */
import type { ChangeSet } from '../domain/store.js';
import type { MetaStore } from '../domain/types.js';
import { encodeChanges, encodeFull } from './codec.js';
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
import type { SnapshotBuffers } from './layout.js';

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
  ) {
    this.control = new Int32Array(buffers.control);
    this.logBytes = Buffer.from(buffers.log);
    this.logInts = new Int32Array(buffers.log);
    this.gen = generation;
    this.writeFull(store, generation);
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
      this.writeFull(store, next);
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
   * Writes the whole store under the sequence lock, then restarts the log.
   * The base generation moves before any log byte is overwritten, which is
   * how readers detect that a record they copied may be torn.
   */
  private writeFull(store: MetaStore, generation: number): void {
    const json = encodeFull(store);
    const length = Buffer.byteLength(json);
    Atomics.add(this.control, kFullSeq, 1);
    if (this.buffers.full.byteLength < length)
      this.buffers.full.grow(
        Math.min(this.buffers.full.maxByteLength, Math.max(length, this.buffers.full.byteLength * 2)),
      );
    Buffer.from(this.buffers.full).write(json, 0, length, 'utf8');
    Atomics.store(this.control, kFullLength, length);
    Atomics.store(this.control, kFullGeneration, generation);
    Atomics.add(this.control, kFullSeq, 1);
    Atomics.store(this.control, kBaseGeneration, generation);
    this.logEnd = 0;
    Atomics.store(this.control, kLogEnd, 0);
    this.fullWrites += 1;
  }
}
