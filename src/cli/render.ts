/**
 * Turning answers into text: colours, borderless tables, key/value blocks,
 * slot ranges and the slot-distribution bar. Pure functions of their input,
 * so that the same state always prints the same text.
 */
import { stripVTControlCharacters } from 'node:util';
import Table from 'cli-table3';
import pc from 'picocolors';
import type { Range } from '../domain/types.js';

export type Colors = ReturnType<typeof pc.createColors>;

/**
 * Colours only for a terminal: off when NO_COLOR is set (any value) or the
 * stream is not a TTY, on with FORCE_COLOR (unless 0 or false). picocolors'
 * own guess also turns them on under CI, which would colour piped output.
 */
export function colorsFor(stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv): Colors {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return pc.createColors(false);
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== '0' && force.toLowerCase() !== 'false') return pc.createColors(true);
  return pc.createColors(stream.isTTY === true);
}

export type Align = 'left' | 'right';

const BORDERLESS = {
  top: '',
  'top-mid': '',
  'top-left': '',
  'top-right': '',
  bottom: '',
  'bottom-mid': '',
  'bottom-left': '',
  'bottom-right': '',
  left: '',
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '',
  'right-mid': '',
  middle: '  ',
};

function trimLines(text: string): string {
  return text
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}

/**
 * cli-table3 lays a table out in time quadratic in its rows, which takes
 * seconds for 10,000 proxies: long tables are drawn in blocks of this many
 * rows with the column widths of the whole table, so that they line up.
 */
const ROWS_PER_BLOCK = 100;

function visibleWidth(text: string): number {
  return stripVTControlCharacters(text).length;
}

/** Columns separated by two spaces, a bold header, no borders; numbers right-aligned when asked. */
export function table(
  c: Colors,
  head: readonly string[],
  rows: readonly (readonly (string | number)[])[],
  align: readonly Align[] = [],
): string {
  const cells = rows.map((row) => row.map((cell) => String(cell)));
  const widths = head.map((h, i) => Math.max(visibleWidth(h), ...cells.map((row) => visibleWidth(row[i] ?? ''))));
  const blocks: string[] = [];
  for (let at = 0; at === 0 || at < cells.length; at += ROWS_PER_BLOCK) {
    const t = new Table({
      ...(at === 0 ? { head: head.map((h) => c.bold(h)) } : {}),
      chars: BORDERLESS,
      style: { 'padding-left': 0, 'padding-right': 0, head: [], border: [] },
      colAligns: head.map((_, i) => align[i] ?? 'left'),
      colWidths: widths,
    });
    for (const row of cells.slice(at, at + ROWS_PER_BLOCK)) t.push(row);
    blocks.push(t.toString());
  }
  return trimLines(blocks.filter((b) => b !== '').join('\n'));
}

/** `label   value` lines, labels padded to one width. */
export function keyValues(c: Colors, pairs: readonly (readonly [string, string])[]): string {
  const t = new Table({ chars: BORDERLESS, style: { 'padding-left': 0, 'padding-right': 0, head: [], border: [] } });
  for (const [key, value] of pairs) t.push([c.dim(key), value]);
  return trimLines(t.toString());
}

export function formatRange([start, end]: Range): string {
  return start === end ? String(start) : `${start}-${end}`;
}

export function formatRanges(ranges: readonly Range[]): string {
  return ranges.length === 0 ? '-' : ranges.map(formatRange).join(',');
}

export function countSlots(ranges: readonly Range[]): number {
  let n = 0;
  for (const [start, end] of ranges) n += end - start + 1;
  return n;
}

const LEVELS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/** Most masters drawn one glyph each; beyond, neighbours share a glyph (their mean). */
export const BAR_WIDTH = 48;

/**
 * One glyph per master, its height the master's share of the largest
 * master's slots; `·` for a master without slots (an expand not yet run).
 */
export function slotBar(counts: readonly number[], width = BAR_WIDTH): string {
  if (counts.length === 0) return '';
  const buckets: number[] = [];
  const per = Math.ceil(counts.length / width);
  for (let i = 0; i < counts.length; i += per) {
    const group = counts.slice(i, i + per);
    buckets.push(group.reduce((a, b) => a + b, 0) / group.length);
  }
  const max = Math.max(...buckets);
  return buckets.map((n) => (n === 0 ? '·' : LEVELS[Math.max(0, Math.ceil((n / max) * LEVELS.length) - 1)]!)).join('');
}

/** The bar and the numbers behind it: `████ 4096 each` or `██·· 0 to 8192`. */
export function slotSummary(c: Colors, counts: readonly number[]): string {
  if (counts.length === 0) return '-';
  const min = Math.min(...counts);
  const max = Math.max(...counts);
  const numbers = min === max ? `${min} each` : `${min} to ${max}`;
  return `${c.cyan(slotBar(counts))} ${numbers}`;
}

/** `n thing` / `n things`. */
export function plural(n: number, singular: string, pluralForm = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : pluralForm}`;
}

/** A list for a sentence, cut after `max` entries. */
export function listOf(items: readonly string[], max = 10): string {
  if (items.length <= max) return items.join(', ');
  return `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}
