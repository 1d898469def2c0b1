/**
 * The front end's answer cache: each read's answer, held as the bytes
 * written to the wire, until something it depends on changes (queries.ts
 * names the dependencies; each change summary marks them). A free proxy's
 * view, which changes with every write's global epoch, is re-stamped with
 * the newest epoch instead of being recomputed by a reader.
 */
import type { CachedAnswer } from '../rpc/backend.js';
import type { ChangeSummary, QueryRequest, ReaderReply } from '../rpc/messages.js';
import { queryCacheKey } from '../service/queries.js';

/**
 * A cached answer, held as the bytes written to the wire: encoding a string
 * per request costs more than everything else on the cached path. One
 * entry object stays in place per key while the key is kept, so that a
 * caller may hold it and ask fresh() again later without a key look-up.
 */
export interface CacheEntry extends CachedAnswer {
  generation: number;
  bytes: Buffer;
  deps: readonly string[];
  /** For epoch templates: the bytes around its epoch number. */
  around?: readonly [Buffer, Buffer] | undefined;
  /**
   * The change count at which this entry was last found fresh: while no
   * change arrives, it is fresh without looking at its dependencies.
   */
  checked: number;
  /**
   * It depends only on clusters, proxies and the global epoch: the changes
   * counted for it are those that touched one of these (itemChangeCount),
   * so that failure reports, which come many times a second, leave it
   * fresh without a look at its dependencies.
   */
  itemsOnly: boolean;
  /** Dropped from the cache: never fresh again. */
  dropped: boolean;
}

const NOTHING = Buffer.alloc(0);

/** Marks an entry no longer kept, for whoever still holds it, and lets its bytes go. */
function retire(entry: CacheEntry): void {
  entry.dropped = true;
  // No change count is -1: the next fresh() looks at `dropped`.
  entry.checked = -1;
  entry.bytes = NOTHING;
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

/**
 * Answers for a cluster or proxy that does not exist are not kept: any
 * client can ask for any number of names that do not exist.
 */
const NO_SUCH_NAME = new Set(['{"cluster":null}', '{"proxy":null}']);
/**
 * Longer keys are neither looked up nor kept: no existing name is this
 * long (src/domain/names.ts), and V8 hashes long strings by their length
 * alone, so long keys would all collide.
 */
const MAX_CACHE_KEY_LENGTH = 512;

export function cacheKey(q: QueryRequest): string | null {
  const key = queryCacheKey(q);
  return key !== null && key.length <= MAX_CACHE_KEY_LENGTH ? key : null;
}

export class AnswerCache {
  private readonly entries = new Map<string, CacheEntry>();
  /** GET /failures answers are keyed by the second; only the newest is kept. */
  private failuresKey: string | null = null;
  /** Generation at which each dependency last changed. */
  private readonly changedAt = new Map<string, number>();
  /** Change summaries seen, so that an entry checked since the last one is fresh at once. */
  private changeCount = 0;
  /** Of those, the ones that touched a cluster, a proxy, the global epoch or the whole store. */
  private itemChangeCount = 0;
  /** Newest generation the front end was told about, and its global epoch. */
  private knownGeneration: number;
  private knownEpoch: number;

  constructor(
    ready: { readonly generation: number; readonly globalEpoch: number },
    private readonly maxEntries: number,
  ) {
    this.knownGeneration = ready.generation;
    this.knownEpoch = ready.globalEpoch;
  }

  /** Answers held. */
  get size(): number {
    return this.entries.size;
  }

  /** A fresh answer under `key`, re-stamped if only the global epoch moved; null if none. */
  lookup(key: string): CacheEntry | null {
    const hit = this.entries.get(key);
    return hit === undefined ? null : this.fresh(hit);
  }

  /** The entry, re-stamped if only the global epoch moved, if it is still kept and fresh; else null. */
  fresh(hit: CacheEntry): CacheEntry | null {
    const count = hit.itemsOnly ? this.itemChangeCount : this.changeCount;
    if (hit.checked === count) return hit;
    if (hit.dropped) return null;
    const freshness = this.freshness(hit);
    if (freshness === 'stale') return null;
    if (freshness === 'epochOnly') {
      if (!hit.around) return null;
      // Only the global epoch moved: the same view at the newest known
      // generation, without a reader round trip.
      hit.bytes = Buffer.concat([hit.around[0], Buffer.from(String(this.knownEpoch)), hit.around[1]]);
      hit.generation = this.knownGeneration;
    }
    hit.checked = count;
    return hit;
  }

  /** Keeps a reader's answer, unless it must not be kept. */
  store(q: QueryRequest, key: string, reply: ReaderReply): void {
    // An empty body is never cached: cachedBytes() promises bytes to write.
    if (reply.deps === null || reply.body === '' || NO_SUCH_NAME.has(reply.body)) return;
    if (this.entries.size >= this.maxEntries) this.dropAll();
    if (q.name === 'failures') {
      if (this.failuresKey !== null && this.failuresKey !== key) this.drop(this.failuresKey);
      this.failuresKey = key;
    }
    const bytes = Buffer.from(reply.body);
    const around = reply.epochTemplate ? splitAtEpoch(reply.body) : undefined;
    const itemsOnly = reply.deps.every((d) => d.startsWith('c:') || d.startsWith('p:') || d === '#epoch');
    const kept = this.entries.get(key);
    if (kept === undefined) {
      this.entries.set(key, {
        cachedAnswer: true,
        generation: reply.generation,
        bytes,
        deps: reply.deps,
        around,
        checked: -1,
        itemsOnly,
        dropped: false,
      });
      return;
    }
    // Updated in place: whoever holds this entry sees the new answer.
    kept.generation = reply.generation;
    kept.bytes = bytes;
    kept.deps = reply.deps;
    kept.around = around;
    kept.checked = -1;
    kept.itemsOnly = itemsOnly;
  }

  private drop(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    retire(entry);
    this.entries.delete(key);
  }

  private dropAll(): void {
    for (const entry of this.entries.values()) retire(entry);
    this.entries.clear();
  }

  /** Marks what one generation changed; every answer depending on it is stale from now on. */
  noteChanges(c: ChangeSummary): void {
    this.changeCount += 1;
    if (c.full || c.epoch || c.clusters.length > 0 || c.proxies.length > 0) this.itemChangeCount += 1;
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
      this.dropAll();
    }
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
}
