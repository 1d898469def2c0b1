/**
 * Reader side of snapshot publication. Each reader keeps its own replica
 * of the store and, at the start of every task, catches up: it applies the
 * change records between its generation and the published one, or reloads
 * the full snapshot when the log restarted past it. Everything it copies
 * out of shared memory is re-validated afterwards, so a torn copy is never
 * applied.
 */
import type { MutableStore } from '../domain/types.js';
import { applyChanges, decodeFull } from './codec.js';
import type { ChangeRecord } from './codec.js';
import {
  align4,
  kBaseGeneration,
  kFullGeneration,
  kFullLength,
  kFullSeq,
  kGeneration,
  kStagedBase,
  kStagedReady,
  RECORD_HEADER_BYTES,
} from './layout.js';
import type { SnapshotBuffers, StagedSnapshot } from './layout.js';

export class SnapshotReader {
  private readonly control: Int32Array;
  private readonly logInts: Int32Array;
  private readonly logBytes: Buffer;
  private replica: MutableStore | null = null;
  private gen = -1;
  /** Base generation of the log our offset belongs to. */
  private base = -1;
  private offset = 0;
  /** A whole store decoded ahead of its publication (see publisher.ts). */
  private staged: { readonly store: MutableStore; readonly generation: number } | null = null;
  /** Full snapshots loaded, for tests. */
  fullLoads = 0;

  constructor(private readonly buffers: SnapshotBuffers) {
    this.control = new Int32Array(buffers.control);
    this.logInts = new Int32Array(buffers.log);
    this.logBytes = Buffer.from(buffers.log);
  }

  get generation(): number {
    return this.gen;
  }

  /** Catches up with the newest published generation and returns the replica. */
  refresh(): { store: MutableStore; generation: number } {
    for (;;) {
      const target = Atomics.load(this.control, kGeneration);
      if (this.replica !== null && this.gen === target) return { store: this.replica, generation: this.gen };
      const base = Atomics.load(this.control, kBaseGeneration);
      if (this.replica === null || base > this.gen) {
        // The staged copy only if the full snapshot at `base` is the text it was decoded from.
        if (this.staged?.generation === base && Atomics.load(this.control, kStagedBase) === base) {
          this.adopt(this.staged.store, base);
        } else {
          this.loadFull();
        }
        continue;
      }
      if (base !== this.base) {
        // The log restarted from a snapshot we are already past: skip its
        // records up to our generation.
        this.base = base;
        this.offset = 0;
      }
      if (!this.applyLog(target)) continue;
    }
  }

  /**
   * Decodes a staged snapshot while the published one still answers, then
   * counts this reader in: the publisher waits for every reader.
   */
  preload(staged: StagedSnapshot): void {
    try {
      if (staged.generation > this.gen) {
        const text = Buffer.from(staged.bytes, 0, staged.length).toString('utf8');
        this.staged = { store: decodeFull(text), generation: staged.generation };
      }
    } catch {
      // Not adopted, then: the published snapshot is loaded in full instead.
      this.staged = null;
    } finally {
      // Counted in whatever happened: the publisher must not wait for a reader that is done.
      Atomics.add(this.control, kStagedReady, 1);
      Atomics.notify(this.control, kStagedReady);
    }
  }

  private adopt(store: MutableStore, generation: number): void {
    this.replica = store;
    this.staged = null;
    this.gen = generation;
    this.base = generation;
    this.offset = 0;
  }

  /** Applies log records up to `target`; false when the log restarted under us. */
  private applyLog(target: number): boolean {
    while (this.gen < target) {
      const at = this.offset;
      const recordGen = this.logInts[at >> 2]!;
      const length = this.logInts[(at >> 2) + 1]!;
      const text =
        length > 0 && at + RECORD_HEADER_BYTES + length <= this.logBytes.length
          ? this.logBytes.toString('utf8', at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + length)
          : '';
      // Everything above was a plain copy; only now do we know it was stable.
      if (Atomics.load(this.control, kBaseGeneration) !== this.base) return false;
      if (recordGen <= this.base || recordGen > target) {
        throw new Error(`snapshot log out of step: record ${recordGen} at ${at}, base ${this.base}, target ${target}`);
      }
      this.offset = at + RECORD_HEADER_BYTES + align4(length);
      if (recordGen <= this.gen) continue;
      if (recordGen !== this.gen + 1) throw new Error(`snapshot log gap: have ${this.gen}, next record ${recordGen}`);
      applyChanges(this.replica!, JSON.parse(text) as ChangeRecord);
      this.gen = recordGen;
    }
    return true;
  }

  private loadFull(): void {
    for (;;) {
      const seq = Atomics.load(this.control, kFullSeq);
      if (seq % 2 === 1) {
        // A full snapshot is being written: sleep until the lock moves.
        Atomics.wait(this.control, kFullSeq, seq, 5);
        continue;
      }
      const generation = Atomics.load(this.control, kFullGeneration);
      const length = Atomics.load(this.control, kFullLength);
      const full = this.buffers.full;
      const text = length <= full.byteLength ? Buffer.from(full, 0, length).toString('utf8') : '';
      if (Atomics.load(this.control, kFullSeq) !== seq) continue;
      this.adopt(decodeFull(text), generation);
      this.fullLoads += 1;
      return;
    }
  }
}
