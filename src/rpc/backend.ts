/**
 * What the HTTP layer talks to: the production ThreadedBackend
 * (src/frontend) or, in tests, an in-process backend over one store. Both
 * answer with the same bytes.
 */
import type { Command } from '../domain/commands.js';
import type { CommandReply, QueryReply, QueryRequest } from './messages.js';

/** A cached answer's place in a backend's cache; only the backend that made it can read it. */
export interface CachedAnswer {
  readonly cachedAnswer: true;
}

export interface Backend {
  /** Answers a read from a snapshot at least as new as `minGeneration`. */
  query(q: QueryRequest, minGeneration?: number): Promise<QueryReply>;
  /**
   * The answer to a read if one is at hand without waiting (a fresh cached
   * answer), else null. Lets the front end answer steady polling
   * synchronously, with no promise or thread hop.
   */
  cached?(q: QueryRequest): QueryReply | null;
  /** The key under which cachedBytes() finds q's answer; null: q's answer is never cached. */
  cacheKey?(q: QueryRequest): string | null;
  /**
   * Where the answer cached under a key is kept, if a fresh one is: a
   * handle the caller may keep and pass to freshBytes() on later requests
   * for the same key, which then needs no key look-up.
   */
  cachedAnswer?(key: string): CachedAnswer | null;
  /**
   * The handle's answer as the bytes to write (encoded once per answer, not
   * per request), or null once it is stale or no longer kept.
   */
  freshBytes?(answer: CachedAnswer): Uint8Array | null;
  /** Applies a write in arrival order. */
  command(cmd: Command): Promise<CommandReply>;
  /**
   * PUT /metadata with its raw body, parsed and checked away from the
   * caller's thread; absent: the handler parses and sends a restore command.
   */
  restore?(body: Uint8Array): Promise<CommandReply>;
  /** The generation of the newest published snapshot. */
  generation(): number;
  /** etcd mode: whether writes are applied here, forwarded to the leader's URL, or refused (url null). */
  writeTarget?(): { readonly local: true } | { readonly local: false; readonly url: string | null };
  /** etcd mode: resolves once this broker published a change at `revision` or later, or after `timeoutMs`. */
  waitForRevision?(revision: number, timeoutMs: number): Promise<void>;
  /** Finishes writes in flight and stops. */
  close(): Promise<void>;
}
