/**
 * Applying commands with the contract's epoch and rollback rules checked
 * around every call (docs/api.md#epochs and docs/api.md#a-failed-request-changes-nothing).
 */
import assert from 'node:assert/strict';
import { applyCommand } from '../../src/domain/commands.js';
import type { Command, CommandContext, CommandValue } from '../../src/domain/commands.js';
import type { ErrorCode, InvalidConfigDetails } from '../../src/domain/errors.js';
import type { MutableStore } from '../../src/domain/types.js';
import { CTX } from '../fixtures/stores.js';
import { snapshot } from './invariants.js';

/**
 * Applies a command that must succeed: the global epoch rises, and every
 * cluster whose record changed carries the new global epoch.
 */
export function succeeds(store: MutableStore, cmd: Command, ctx: CommandContext = CTX): CommandValue {
  const before = new Map([...store.clusters].map(([name, c]) => [name, JSON.stringify(c)]));
  const epoch = store.globalEpoch;
  const outcome = applyCommand(store, cmd, ctx);
  if (!outcome.ok) assert.fail(`${cmd.kind} failed with ${outcome.error.code}`);
  assert.ok(store.globalEpoch > epoch, `${cmd.kind}: global epoch ${epoch} must rise, is ${store.globalEpoch}`);
  for (const [name, cluster] of store.clusters) {
    if (before.get(name) === JSON.stringify(cluster)) continue;
    assert.equal(cluster.epoch, store.globalEpoch, `${cmd.kind}: changed cluster ${name} takes the new global epoch`);
  }
  return outcome.value;
}

/**
 * Applies a command that must fail with `code` and leave the store
 * byte-identical, epoch included. Returns the error details, if any.
 */
export function failsUnchanged(
  store: MutableStore,
  cmd: Command,
  code: ErrorCode,
  ctx: CommandContext = CTX,
): InvalidConfigDetails | undefined {
  const before = snapshot(store);
  const revision = store.revision;
  const outcome = applyCommand(store, cmd, ctx);
  if (outcome.ok) assert.fail(`${cmd.kind} succeeded, expected ${code}`);
  assert.equal(outcome.error.code, code, `${cmd.kind}: error code`);
  assert.equal(outcome.changes, null, `${cmd.kind}: a failed command reports no change`);
  assert.equal(store.revision, revision, `${cmd.kind}: a failed command commits nothing`);
  assert.equal(snapshot(store), before, `${cmd.kind} failing with ${code} must leave the store unchanged`);
  return outcome.error.details;
}

/** Applies one of the two commands whose failure keeps its changes (docs/api.md#a-failed-request-changes-nothing). */
export function failsWithChanges(store: MutableStore, cmd: Command, code: ErrorCode, ctx: CommandContext = CTX): void {
  const epoch = store.globalEpoch;
  const outcome = applyCommand(store, cmd, ctx);
  if (outcome.ok) assert.fail(`${cmd.kind} succeeded, expected ${code}`);
  assert.equal(outcome.error.code, code);
  assert.ok(outcome.changes !== null, `${cmd.kind}: the kept changes are reported`);
  assert.ok(store.globalEpoch > epoch, `${cmd.kind}: the kept change raises the global epoch`);
}
