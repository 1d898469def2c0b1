/**
 * The protocol between the HTTP front end and whatever answers it: the
 * in-process LocalBackend, or the owner thread and reader pool. Everything
 * here is plain data that survives structured clone.
 */
import type { Command } from '../domain/commands.js';
import type { WireError } from '../domain/errors.js';

export type QueryRequest =
  | { readonly name: 'clusterNames'; readonly offset?: number; readonly limit?: number }
  | { readonly name: 'clusterMeta'; readonly cluster: string }
  | { readonly name: 'proxyAddresses'; readonly offset?: number; readonly limit?: number }
  | { readonly name: 'proxyMeta'; readonly address: string }
  | { readonly name: 'failures'; readonly now: number }
  | { readonly name: 'failedProxies' }
  | { readonly name: 'metadata' }
  | { readonly name: 'checkResources' };

export type QueryName = QueryRequest['name'];

/** A read's answer: the JSON body and the snapshot generation it was computed from. */
export interface QueryReply {
  readonly generation: number;
  readonly body: string;
}

/** A write's answer. `body` is '' for the writes answered with an empty 200. */
export type CommandReply =
  | { readonly ok: true; readonly generation: number; readonly revision?: number; readonly body: string }
  | { readonly ok: false; readonly generation: number; readonly revision?: number; readonly error: WireError };

/** Settings the views and the failure list depend on. */
export interface ReadSettings {
  readonly failureTtl: number;
  readonly failureQuorum: number;
  readonly migrationLimit: number;
}

export type { Command };

/** What changed in one generation, as the front end's answer cache needs it. */
export interface ChangeSummary {
  readonly generation: number;
  /** The global epoch at this generation. */
  readonly globalEpoch: number;
  /** The storage revision holding this generation (etcd's; 0 in file mode). */
  readonly revision: number;
  readonly clusters: readonly string[];
  readonly proxies: readonly string[];
  readonly failures: boolean;
  readonly failed: boolean;
  readonly epoch: boolean;
  readonly keys: boolean;
  /** The whole store was replaced. */
  readonly full: boolean;
}

export interface OwnerOptions {
  readonly buffers: import('../snapshot/layout.js').SnapshotBuffers;
  readonly settings: ReadSettings;
  readonly metaFilename: string;
  readonly recoverFromMetaFile: boolean;
  readonly autoUpdateMetaFile: boolean;
  readonly updateMetaFileIntervalSec: number;
  readonly replicaAddresses: readonly string[];
  readonly syncMetaIntervalSec: number;
  readonly apiToken: string;
  readonly debug: boolean;
  /** etcd mode when set; file mode otherwise. */
  readonly etcd?: import('../storage/etcd.js').EtcdOptions | undefined;
  /** Where every OwnerOutbound message goes (the front end drains it synchronously before a slot answer). */
  readonly outbound: import('node:worker_threads').MessagePort;
  /** The shared mailbox for the answer the front end waits for (see reply-slot.ts). */
  readonly replySlot: SharedArrayBuffer;
}

export interface Timings {
  /** The command's kind, or 'refused' when it was not tried. */
  readonly kind: string;
  readonly applyMs: number;
  readonly persistMs: number;
  readonly publishMs: number;
}

export type OwnerInbound =
  | { readonly type: 'command'; readonly id: number; readonly cmd: Command }
  | { readonly type: 'close' };

export type OwnerEvent =
  | { readonly kind: 'persistFailure'; readonly message: string }
  | { readonly kind: 'role'; readonly role: 'leader' | 'follower'; readonly leader: { readonly id: string; readonly url: string } | null }
  | { readonly kind: 'etcdCommit'; readonly seconds: number }
  | { readonly kind: 'watchLag'; readonly revisions: number; readonly staleSeconds: number }
  | { readonly kind: 'replicationFailure'; readonly address: string; readonly message: string }
  | { readonly kind: 'metaFileWritten'; readonly seconds: number };

export type OwnerOutbound =
  | { readonly type: 'ready'; readonly generation: number; readonly globalEpoch: number }
  | { readonly type: 'fatal'; readonly message: string }
  | { readonly type: 'reply'; readonly id: number; readonly reply: CommandReply; readonly changes: ChangeSummary | null; readonly timings: Timings }
  | { readonly type: 'changed'; readonly changes: ChangeSummary }
  | { readonly type: 'event'; readonly event: OwnerEvent }
  | { readonly type: 'closed' };

/** A reader's answer plus what it depends on, for the front end's cache. */
export interface ReaderReply extends QueryReply {
  /** Cache dependencies ('c:<cluster>', 'p:<proxy>', '#epoch', '#keys', '#failures', '#failed', '#any'); null = do not cache. */
  readonly deps: readonly string[] | null;
  /**
   * The body differs from the same answer at another global epoch only in
   * its `"epoch"` field (a free proxy's view): the front end may re-render
   * it with a newer epoch instead of asking a reader again.
   */
  readonly epochTemplate?: boolean;
}
