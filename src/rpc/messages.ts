/**
 * The protocol between the HTTP front end, the owner thread and the reader
 * threads. Everything here is plain data that survives structured clone.
 */
import type { Command } from '../domain/commands.js';
import type { WireError } from '../domain/errors.js';
import type { MessagePort } from 'node:worker_threads';
import type { SnapshotBuffers } from '../snapshot/layout.js';

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
  readonly buffers: SnapshotBuffers;
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
  readonly etcd?: EtcdOptions | undefined;
  /**
   * The reader threads to hand a whole-store replacement to before it is
   * published: how many, and the BroadcastChannel they listen on.
   */
  readonly preload?: { readonly readers: number; readonly channel: string } | undefined;
  /** Where every OwnerOutbound message goes (the front end drains it synchronously before a slot answer). */
  readonly outbound: MessagePort;
  /** The shared mailbox for the answer the front end waits for (see reply-slot.ts). */
  readonly replySlot: SharedArrayBuffer;
}

/** How the owner thread reaches etcd and presents itself to the other brokers. */
export interface EtcdOptions {
  readonly endpoints: readonly string[];
  /** Key prefix; every key of this broker group lives under it. */
  readonly prefix: string;
  readonly leaseTtlSeconds: number;
  /** Deadline of one etcd request. */
  readonly timeoutMs: number;
  /** Writes per transaction; etcd's --max-txn-ops (128 by default). */
  readonly maxTxnOps: number;
  /** This broker's identity and the URL other brokers forward writes to. */
  readonly brokerId: string;
  readonly advertiseUrl: string;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly caFile?: string | undefined;
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
}

export interface Timings {
  /** The command's kind, or 'refused' when it was not tried. */
  readonly kind: string;
  readonly applyMs: number;
  readonly persistMs: number;
  readonly publishMs: number;
}

/** What the owner hands a restore worker (workers/restore.ts). */
export interface RestoreTask {
  /** The request body, transferred, not copied. */
  readonly body: ArrayBuffer;
  /** Unix seconds: later report times are taken as this. */
  readonly now: number;
}

export type RestoreOutcome =
  /**
   * The checked document as the broker will hold it, as a sliced snapshot
   * text (snapshot/codec.ts encodeSlices), shared, not copied: the owner
   * rebuilds its store from it a slice at a time, and hands the same bytes
   * to the readers.
   */
  | { readonly ok: true; readonly snapshot: SharedArrayBuffer; readonly length: number }
  | { readonly ok: false; readonly error: WireError; readonly bug?: string };

export type OwnerInbound =
  | { readonly type: 'command'; readonly id: number; readonly cmd: Command }
  /** PUT /metadata: the body's bytes, parsed and checked in a worker of the owner's. */
  | { readonly type: 'restore'; readonly id: number; readonly body: ArrayBuffer }
  | { readonly type: 'close' };

export type OwnerEvent =
  | { readonly kind: 'persistFailure'; readonly message: string }
  | {
      readonly kind: 'role';
      readonly role: 'leader' | 'follower';
      readonly leader: { readonly id: string; readonly url: string } | null;
    }
  | { readonly kind: 'etcdCommit'; readonly seconds: number }
  | { readonly kind: 'watchLag'; readonly revisions: number; readonly staleSeconds: number }
  | { readonly kind: 'replicationFailure'; readonly address: string; readonly message: string }
  | { readonly kind: 'metaFileWritten'; readonly seconds: number };

export type OwnerOutbound =
  | { readonly type: 'ready'; readonly generation: number; readonly globalEpoch: number }
  | { readonly type: 'fatal'; readonly message: string }
  | {
      readonly type: 'reply';
      readonly id: number;
      readonly reply: CommandReply;
      readonly changes: ChangeSummary | null;
      readonly timings: Timings;
    }
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
