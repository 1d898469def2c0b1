/**
 * What the HTTP layer talks to. LocalBackend answers in-process from one
 * store; the threaded backend (src/rpc) answers from the owner thread and
 * the reader pool with the same bytes.
 */
import { applyCommand } from '../domain/commands.js';
import type { Command, CommandContext } from '../domain/commands.js';
import { emptyStore } from '../domain/store.js';
import type { MutableStore } from '../domain/types.js';
import type { CommandReply, QueryReply, QueryRequest, ReadSettings } from '../rpc/messages.js';
import { answerQuery, commandBody } from './answers.js';

export interface Backend {
  /** Answers a read from a snapshot at least as new as `minGeneration`. */
  query(q: QueryRequest, minGeneration?: number): Promise<QueryReply>;
  /**
   * The answer to a read if one is at hand without waiting (a fresh cached
   * answer), else null. Lets the front end answer steady polling
   * synchronously, with no promise or thread hop.
   */
  cached?(q: QueryRequest): QueryReply | null;
  /** The same answer as cached(), as the bytes to write: encoded once per answer, not per request. */
  cachedBytes?(q: QueryRequest): Uint8Array | null;
  /** Applies a write in arrival order. */
  command(cmd: Command): Promise<CommandReply>;
  /** The generation of the newest published snapshot. */
  generation(): number;
  /** etcd mode: whether writes are applied here, forwarded to the leader's URL, or refused (url null). */
  writeTarget?(): { readonly local: true } | { readonly local: false; readonly url: string | null };
  /** etcd mode: resolves once this broker published a change at `revision` or later, or after `timeoutMs`. */
  waitForRevision?(revision: number, timeoutMs: number): Promise<void>;
  /** Finishes writes in flight and stops. */
  close(): Promise<void>;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Applies a command to a store and shapes the reply; shared by every backend. */
export function executeCommand(store: MutableStore, cmd: Command, settings: ReadSettings, generation: () => number): CommandReply & { changed: boolean } {
  const ctx: CommandContext = { now: nowSeconds(), migrationLimit: settings.migrationLimit };
  const outcome = applyCommand(store, cmd, ctx);
  const changed = outcome.changes !== null;
  if (outcome.ok) return { ok: true, generation: generation(), body: commandBody(cmd.kind, outcome.value), changed };
  return { ok: false, generation: generation(), error: outcome.error, changed };
}

export class LocalBackend implements Backend {
  private gen = 0;

  constructor(
    readonly store: MutableStore = emptyStore(),
    private readonly settings: ReadSettings,
  ) {}

  async query(q: QueryRequest): Promise<QueryReply> {
    return { generation: this.gen, body: answerQuery(this.store, q, this.settings) };
  }

  async command(cmd: Command): Promise<CommandReply> {
    const reply = executeCommand(this.store, cmd, this.settings, () => this.gen + 1);
    if (reply.changed) this.gen += 1;
    const { changed: _changed, ...wire } = reply;
    return reply.changed ? wire : { ...wire, generation: this.gen };
  }

  generation(): number {
    return this.gen;
  }

  async close(): Promise<void> {}
}
