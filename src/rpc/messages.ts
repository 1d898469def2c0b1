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
  | { readonly ok: true; readonly generation: number; readonly body: string }
  | { readonly ok: false; readonly generation: number; readonly error: WireError };

/** Settings the views and the failure list depend on. */
export interface ReadSettings {
  readonly failureTtl: number;
  readonly failureQuorum: number;
  readonly migrationLimit: number;
}

export type { Command };
