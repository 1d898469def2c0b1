/**
 * An in-process backend over one store, for tests: commands applied
 * synchronously, reads answered with the same bytes as the threaded
 * backend's.
 */
import { applyCommand } from '../../src/domain/commands.js';
import type { Command, CommandContext } from '../../src/domain/commands.js';
import { emptyStore } from '../../src/domain/store.js';
import type { MutableStore } from '../../src/domain/types.js';
import type { CommandReply, QueryReply, QueryRequest, ReadSettings } from '../../src/rpc/messages.js';
import type { Backend } from '../../src/rpc/backend.js';
import { answerQuery } from '../../src/service/queries.js';
import { commandBody } from '../../src/service/write-bodies.js';
import { nowSeconds } from '../../src/service/clock.js';

/** Applies a command to a store and shapes the reply. */
export function executeCommand(
  store: MutableStore,
  cmd: Command,
  settings: ReadSettings,
  generation: () => number,
): CommandReply & { changed: boolean } {
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
