/**
 * Shared memory layout of snapshot publication. Only publisher.ts and
 * reader.ts touch these buffers.
 *
 * - control: Int32Array of k-fields below.
 * - log: an append-only byte log of change records, one per generation,
 *   each [generation:int32][length:int32][JSON bytes][pad to 4]. It starts
 *   empty right after each full snapshot and is never overwritten while in
 *   use: when it is full, the publisher writes a new full snapshot and the
 *   log restarts at offset 0.
 * - full: a growable buffer holding the whole store as JSON, guarded by a
 *   sequence lock (odd = being written).
 * - A staged snapshot, before a whole-store replacement is published: the
 *   new store as JSON in a buffer of its own, handed to every reader (see
 *   StagedSnapshot), each of which counts itself in kStagedReady once it
 *   holds it decoded.
 */
export const kGeneration = 0; // newest published generation
export const kBaseGeneration = 1; // generation of the full snapshot the log continues from
export const kFullSeq = 2; // sequence lock of the full snapshot
export const kFullGeneration = 3; // generation stored in the full snapshot
export const kFullLength = 4; // byte length of the full snapshot
export const kLogEnd = 5; // bytes used in the log (informational)
export const kStagedReady = 6; // readers that loaded the staged snapshot (see publisher.ts)
export const kStagedBase = 7; // generation of the full snapshot when it is the staged one, else -1
export const kFieldCount = 8;

export const RECORD_HEADER_BYTES = 8;
export const DEFAULT_LOG_BYTES = 64 * 1024 * 1024;
export const MAX_FULL_BYTES = 2 * 1024 * 1024 * 1024 - 1;

export interface SnapshotBuffers {
  readonly control: SharedArrayBuffer;
  readonly log: SharedArrayBuffer;
  readonly full: SharedArrayBuffer;
}

export function allocateSnapshotBuffers(logBytes = DEFAULT_LOG_BYTES): SnapshotBuffers {
  return {
    control: new SharedArrayBuffer(kFieldCount * Int32Array.BYTES_PER_ELEMENT),
    log: new SharedArrayBuffer(logBytes),
    // Growable: only the pages actually written are committed.
    full: new SharedArrayBuffer(1024 * 1024, { maxByteLength: MAX_FULL_BYTES }),
  };
}

export function align4(n: number): number {
  return (n + 3) & ~3;
}

/** A snapshot's text in shared memory: a whole document on one line, or a store's slices a line each (codec.ts). */
export interface SnapshotText {
  readonly bytes: SharedArrayBuffer;
  readonly length: number;
}

/** A whole store's text that readers load before it is published as generation `generation`. */
export interface StagedSnapshot extends SnapshotText {
  readonly generation: number;
}
