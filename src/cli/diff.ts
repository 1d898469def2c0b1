/** What a restore would change: the broker's current document against the one to restore. */
import { compareBytes } from '../domain/names.js';
import type { MetaDocument } from '../domain/types.js';

export interface KeyChanges {
  readonly added: string[];
  readonly removed: string[];
  readonly changed: string[];
}

export interface MetadataDiff {
  readonly global_epoch: { readonly before: number; readonly after: number };
  readonly clusters: KeyChanges;
  readonly proxies: KeyChanges;
  readonly failed_proxies: { readonly before: number; readonly after: number };
  /** Proxies with failure reports. */
  readonly reported: { readonly before: number; readonly after: number };
  /** True when the two documents hold the same data (whatever their key order). */
  readonly identical: boolean;
}

/** JSON with object keys sorted, so that equal data compares equal whatever order it was written in. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => compareBytes(a, b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function keyChanges(before: Readonly<Record<string, unknown>>, after: Readonly<Record<string, unknown>>): KeyChanges {
  const added: string[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  for (const key of Object.keys(after)) {
    if (!Object.hasOwn(before, key)) added.push(key);
    else if (canonicalJson(before[key]) !== canonicalJson(after[key])) changed.push(key);
  }
  for (const key of Object.keys(before)) if (!Object.hasOwn(after, key)) removed.push(key);
  return { added: added.sort(compareBytes), removed: removed.sort(compareBytes), changed: changed.sort(compareBytes) };
}

/** failed_proxies is a set: its order carries no meaning. */
function withSortedSets(doc: MetaDocument): MetaDocument {
  return { ...doc, failed_proxies: [...doc.failed_proxies].sort(compareBytes) };
}

export function diffMetadata(before: MetaDocument, after: MetaDocument): MetadataDiff {
  return {
    global_epoch: { before: before.global_epoch, after: after.global_epoch },
    clusters: keyChanges(before.clusters, after.clusters),
    proxies: keyChanges(before.all_proxies, after.all_proxies),
    failed_proxies: { before: before.failed_proxies.length, after: after.failed_proxies.length },
    reported: { before: Object.keys(before.failures).length, after: Object.keys(after.failures).length },
    identical: canonicalJson(withSortedSets(before)) === canonicalJson(withSortedSets(after)),
  };
}
