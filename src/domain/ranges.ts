/** Slot range lists: inclusive [start, end] pairs kept sorted and merged. */
import type { Range, RangeList } from './types.js';

/** Sorts, orients and merges overlapping or adjacent ranges. */
export function compactRanges(ranges: readonly Range[]): Range[] {
  const oriented = ranges.map(([a, b]): Range => (a <= b ? [a, b] : [b, a]));
  oriented.sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [start, end] of oriented) {
    const last = out[out.length - 1];
    if (last && last[1] + 1 >= start) {
      if (end > last[1]) last[1] = end;
    } else {
      out.push([start, end]);
    }
  }
  return out;
}

export function mergeRanges(a: RangeList, b: RangeList): Range[] {
  return compactRanges([...a, ...b]);
}

export function countSlots(ranges: RangeList): number {
  let n = 0;
  for (const [start, end] of ranges) n += end - start + 1;
  return n;
}

export function rangeListsEqual(a: RangeList, b: RangeList): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x[0] !== y[0] || x[1] !== y[1]) return false;
  }
  return true;
}
