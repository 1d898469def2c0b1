/**
 * Slot migration: expand onto empty chunks, shrink into the first chunks,
 * and commit a finished migration. Each moved range becomes a migrating
 * entry on its source part and an importing entry on its destination part.
 */
import { hasRunningMigration } from '../chunks.js';
import { CHUNK_NODE_NUM, SLOT_NUM } from '../constants.js';
import { BrokerError } from '../errors.js';
import { compactRanges, countSlots, mergeRanges, rangeListsEqual } from '../ranges.js';
import type { Draft } from '../store.js';
import type {
  ChunkStore,
  ClusterStore,
  MigrationMetaStore,
  MigrationSlotRangeStore,
  Range,
  SlotRange,
} from '../types.js';
import { requireCluster } from './clusters.js';

interface PlannedMove {
  readonly meta: MigrationMetaStore;
  readonly ranges: Range[];
}

type WorkingSlots = ([number, number][] | null)[][];

function workingCopy(cluster: ClusterStore): WorkingSlots {
  return cluster.chunks.map((c) =>
    c.stable_slots.map((s) => (s ? s.range_list.map(([a, b]): [number, number] => [a, b]) : null)),
  );
}

/** Writes the plan into the cluster: migrating at sources, importing at destinations. */
function withMoves(
  cluster: ClusterStore,
  stable: WorkingSlots,
  moves: readonly PlannedMove[],
  epoch: number,
): ClusterStore {
  const migrating = cluster.chunks.map(
    (c) => [[...c.migrating_slots[0]], [...c.migrating_slots[1]]] as MigrationSlotRangeStore[][],
  );
  for (const move of moves) {
    const range_list = compactRanges(move.ranges);
    migrating[move.meta.src_chunk_index]![move.meta.src_chunk_part]!.push({
      range_list,
      is_migrating: true,
      meta: move.meta,
    });
    migrating[move.meta.dst_chunk_index]![move.meta.dst_chunk_part]!.push({
      range_list,
      is_migrating: false,
      meta: move.meta,
    });
  }
  const chunks = cluster.chunks.map((c, i): ChunkStore => ({
    ...c,
    stable_slots: [0, 1].map((p): SlotRange | null => {
      const ranges = stable[i]![p];
      return ranges ? { range_list: compactRanges(ranges), tag: 'None' } : null;
    }) as unknown as ChunkStore['stable_slots'],
    migrating_slots: [migrating[i]![0]!, migrating[i]![1]!],
  }));
  return { ...cluster, epoch, chunks };
}

export interface Expand {
  readonly kind: 'expand';
  readonly name: string;
}

/**
 * Moves slots from the slot-holding masters, taking from the end of their
 * ranges, to the masters of the empty chunks at the end, so that every
 * master ends with SLOT_NUM / masters slots (the first remainder one more).
 */
export function applyExpand(draft: Draft, cmd: Expand): void {
  const cluster = requireCluster(draft, cmd.name);
  if (!cluster.chunks.some((c) => c.stable_slots[0] === null || c.stable_slots[1] === null)) {
    throw new BrokerError('SLOTS_ALREADY_EVEN');
  }
  if (hasRunningMigration(cluster)) throw new BrokerError('MIGRATION_RUNNING');
  const epoch = draft.bumpEpoch();
  const stable = workingCopy(cluster);

  const dstChunkNum = cluster.chunks.filter((c) => c.stable_slots[0] === null && c.stable_slots[1] === null).length;
  const dstMasterNum = dstChunkNum * 2;
  const masterNum = cluster.chunks.length * 2;
  const srcChunkNum = cluster.chunks.length - dstChunkNum;
  const srcMasterNum = srcChunkNum * 2;
  const average = Math.floor(SLOT_NUM / masterNum);
  const remainder = SLOT_NUM - average * masterNum;

  const moves: PlannedMove[] = [];
  let dst = 0;
  let taken: Range[] = [];
  let takenNum = 0;
  for (let ci = 0; ci < cluster.chunks.length; ci++) {
    for (let part = 0; part < 2; part++) {
      const ranges = stable[ci]![part];
      if (!ranges) continue;
      const srcFinal = average + (ci * 2 + part < remainder ? 1 : 0);
      while (dst !== dstMasterNum) {
        const dstFinal = average + (srcMasterNum + dst < remainder ? 1 : 0);
        if (countSlots(ranges) <= srcFinal) break;
        const removeNum = Math.min(dstFinal - takenNum, countSlots(ranges) - srcFinal);
        const last = ranges[ranges.length - 1]!;
        const lastNum = last[1] - last[0] + 1;
        if (removeNum >= lastNum) {
          ranges.pop();
          taken.push([last[0], last[1]]);
          takenNum += lastNum;
        } else {
          taken.push([last[1] - removeNum + 1, last[1]]);
          last[1] -= removeNum;
          takenNum += removeNum;
        }
        const dstFull = takenNum >= dstFinal;
        const srcDone = countSlots(ranges) <= srcFinal;
        if (dstFull || srcDone) {
          moves.push({
            meta: {
              epoch,
              src_chunk_index: ci,
              src_chunk_part: part,
              dst_chunk_index: srcChunkNum + (dst >> 1),
              dst_chunk_part: dst % 2,
            },
            ranges: taken,
          });
          taken = [];
          if (dstFull) {
            dst += 1;
            takenNum = 0;
          }
          if (srcDone) break;
        }
      }
    }
  }
  draft.setCluster(withMoves(cluster, stable, moves, epoch));
}

export interface Shrink {
  readonly kind: 'shrink';
  readonly name: string;
  readonly nodeNumber: number;
}

/**
 * Moves every slot of the chunks beyond the first nodeNumber/4 into the
 * masters of the first chunks, taking from the start of the source ranges,
 * filling each destination up to its balanced share. The emptied chunks
 * stay until DELETE /clusters/free_nodes.
 */
export function applyShrink(draft: Draft, cmd: Shrink): void {
  const cluster = requireCluster(draft, cmd.name);
  if (cluster.chunks.some((c) => c.stable_slots[0] === null || c.stable_slots[1] === null)) {
    throw new BrokerError('FREE_NODE_FOUND');
  }
  if (hasRunningMigration(cluster)) throw new BrokerError('MIGRATION_RUNNING');
  const n = cmd.nodeNumber;
  if (!Number.isSafeInteger(n) || n <= 0 || n % CHUNK_NODE_NUM !== 0 || n >= cluster.chunks.length * CHUNK_NODE_NUM) {
    throw new BrokerError('INVALID_NODE_NUMBER');
  }
  const epoch = draft.bumpEpoch();
  const stable = workingCopy(cluster);
  const dstChunkNum = n / CHUNK_NODE_NUM;
  const dstMasterNum = dstChunkNum * 2;
  const average = Math.floor(SLOT_NUM / dstMasterNum);
  const remainder = SLOT_NUM - average * dstMasterNum;
  const existing: number[] = [];
  for (let ci = 0; ci < dstChunkNum; ci++) {
    for (let part = 0; part < 2; part++) existing.push(countSlots(stable[ci]![part] ?? []));
  }

  const moves: PlannedMove[] = [];
  let dst = 0;
  let taken: Range[] = [];
  let takenNum = 0;
  const flush = (ci: number, part: number) => {
    moves.push({
      meta: { epoch, src_chunk_index: ci, src_chunk_part: part, dst_chunk_index: dst >> 1, dst_chunk_part: dst % 2 },
      ranges: taken,
    });
    taken = [];
  };
  for (let ci = dstChunkNum; ci < cluster.chunks.length; ci++) {
    for (let part = 0; part < 2; part++) {
      const ranges = stable[ci]![part];
      if (ranges) {
        while (countSlots(ranges) > 0) {
          // Every destination is full but slots remain (only when the
          // cluster was unbalanced to begin with): the last one takes them.
          const lastDst = dst >= dstMasterNum;
          if (lastDst) dst = dstMasterNum - 1;
          const dstFinal = lastDst ? Infinity : average + (dst < remainder ? 1 : 0);
          const need = dstFinal - takenNum - existing[dst]!;
          if (need <= 0) {
            if (takenNum > 0) flush(ci, part);
            dst += 1;
            takenNum = 0;
            continue;
          }
          const first = ranges[0]!;
          const firstNum = first[1] - first[0] + 1;
          const removeNum = Math.min(need, countSlots(ranges));
          if (removeNum >= firstNum) {
            ranges.shift();
            taken.push([first[0], first[1]]);
            takenNum += firstNum;
          } else {
            taken.push([first[0], first[0] + removeNum - 1]);
            first[0] += removeNum;
            takenNum += removeNum;
          }
          const dstFull = takenNum + existing[dst]! >= dstFinal;
          if (dstFull || countSlots(ranges) === 0) {
            flush(ci, part);
            if (dstFull) {
              dst += 1;
              takenNum = 0;
            }
          }
        }
      }
      stable[ci]![part] = null;
    }
  }
  draft.setCluster(withMoves(cluster, stable, moves, epoch));
}

export interface CommitMigration {
  readonly kind: 'commitMigration';
  readonly cluster_name: string;
  readonly slot_range: SlotRange;
}

function findEntry(
  cluster: ClusterStore,
  match: (m: MigrationSlotRangeStore) => boolean,
): { chunk: number; part: number } | null {
  for (let chunk = 0; chunk < cluster.chunks.length; chunk++) {
    for (let part = 0; part < 2; part++) {
      if (cluster.chunks[chunk]!.migrating_slots[part]!.some(match)) return { chunk, part };
    }
  }
  return null;
}

function sameMeta(a: MigrationMetaStore, b: MigrationMetaStore): boolean {
  return (
    a.epoch === b.epoch &&
    a.src_chunk_index === b.src_chunk_index &&
    a.src_chunk_part === b.src_chunk_part &&
    a.dst_chunk_index === b.dst_chunk_index &&
    a.dst_chunk_part === b.dst_chunk_part
  );
}

/**
 * Commits a finished migration given the migrating (or importing) slot
 * range as the views show it: the range leaves the source's migrating
 * entries and joins the destination's stable slots.
 */
export function applyCommitMigration(draft: Draft, cmd: CommitMigration): void {
  const cluster = requireCluster(draft, cmd.cluster_name);
  const tag = cmd.slot_range.tag;
  if (tag === 'None') throw new BrokerError('INVALID_MIGRATION_TASK');
  const taskEpoch = 'Migrating' in tag ? tag.Migrating.epoch : tag.Importing.epoch;
  const ranges = cmd.slot_range.range_list;
  const matches = (migrating: boolean) => (m: MigrationSlotRangeStore) =>
    m.is_migrating === migrating && m.meta.epoch === taskEpoch && rangeListsEqual(m.range_list, ranges);
  const src = findEntry(cluster, matches(true));
  const dst = src && findEntry(cluster, matches(false));
  if (!src || !dst) throw new BrokerError('MIGRATION_TASK_NOT_FOUND');
  const meta: MigrationMetaStore = {
    epoch: taskEpoch,
    src_chunk_index: src.chunk,
    src_chunk_part: src.part,
    dst_chunk_index: dst.chunk,
    dst_chunk_part: dst.part,
  };

  let imported = false;
  const chunks = cluster.chunks.map((c): ChunkStore => {
    const migrating = c.migrating_slots.map((entries) =>
      entries.filter((m) => !(m.is_migrating && sameMeta(m.meta, meta) && rangeListsEqual(m.range_list, ranges))),
    ) as [MigrationSlotRangeStore[], MigrationSlotRangeStore[]];
    const stable: [SlotRange | null, SlotRange | null] = [c.stable_slots[0], c.stable_slots[1]];
    if (!imported) {
      for (let part = 0; part < 2 && !imported; part++) {
        const at = migrating[part]!.findIndex(
          (m) => !m.is_migrating && sameMeta(m.meta, meta) && rangeListsEqual(m.range_list, ranges),
        );
        if (at < 0) continue;
        const [entry] = migrating[part]!.splice(at, 1);
        const prev = stable[part];
        stable[part] = { range_list: mergeRanges(prev ? prev.range_list : [], entry!.range_list), tag: 'None' };
        imported = true;
      }
    }
    return { ...c, stable_slots: stable, migrating_slots: migrating };
  });
  draft.setCluster({ ...cluster, epoch: draft.bumpEpoch(), chunks });
}
