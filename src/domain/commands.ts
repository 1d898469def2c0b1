/**
 * Every write is a plain-data Command applied by `applyCommand`, one at a
 * time, to the owner's store. A command either succeeds and its changes are
 * committed, or throws and the store is rolled back to exactly what it was
 * (except PartialFailure, whose changes stand by design).
 */
import {
  applyAddCluster,
  applyAddNodes,
  applyBalanceMasters,
  applyChangeConfig,
  applyDeleteFreeNodes,
  applyRemoveCluster,
  applyScaleNodes,
} from './commands/clusters.js';
import type {
  AddCluster,
  AddNodes,
  BalanceMasters,
  ChangeConfig,
  DeleteFreeNodes,
  RemoveCluster,
  ScaleNodes,
} from './commands/clusters.js';
import { applyForceEpoch, applyRecoverEpoch } from './commands/epoch.js';
import type { ForceEpoch, RecoverEpoch } from './commands/epoch.js';
import { applyFailover } from './commands/failover.js';
import type { Failover } from './commands/failover.js';
import { applyCommitMigration, applyExpand, applyShrink } from './commands/migrate.js';
import type { CommitMigration, Expand, Shrink } from './commands/migrate.js';
import { applyAddFailure, applyAddProxy, applyPruneFailures, applyRemoveProxy } from './commands/proxies.js';
import type { AddFailure, AddProxy, PruneFailures, RemoveProxy } from './commands/proxies.js';
import { storeFromValidDocument } from './commands/restore.js';
import type { Restore } from './commands/restore.js';
import { BrokerError, PartialFailure } from './errors.js';
import type { WireError } from './errors.js';
import { Draft, replaceStore, storeFromDocument } from './store.js';
import type { ChangeSet } from './store.js';
import type { MutableStore, NodeView, ProxyView } from './types.js';

export type {
  AddCluster,
  AddFailure,
  AddNodes,
  AddProxy,
  BalanceMasters,
  ChangeConfig,
  CommitMigration,
  DeleteFreeNodes,
  Expand,
  Failover,
  ForceEpoch,
  PruneFailures,
  RecoverEpoch,
  RemoveCluster,
  RemoveProxy,
  Restore,
  ScaleNodes,
  Shrink,
};

export type Command =
  | AddProxy
  | RemoveProxy
  | AddFailure
  | PruneFailures
  | AddCluster
  | RemoveCluster
  | AddNodes
  | ScaleNodes
  | DeleteFreeNodes
  | BalanceMasters
  | ChangeConfig
  | Expand
  | Shrink
  | CommitMigration
  | Failover
  | ForceEpoch
  | RecoverEpoch
  | Restore;

export type CommandKind = Command['kind'];

/** What a command answers on success: nothing, nodes added, or a proxy view. */
export type CommandValue = null | NodeView[] | ProxyView | number;

export interface CommandContext {
  /** Unix seconds. */
  readonly now: number;
  readonly migrationLimit: number;
}

export type CommandOutcome =
  | { readonly ok: true; readonly value: CommandValue; readonly changes: ChangeSet | null }
  | { readonly ok: false; readonly error: WireError; readonly changes: ChangeSet | null };

export function unreachable(value: never): never {
  throw new Error(`unreachable: ${JSON.stringify(value)}`);
}

function dispatch(draft: Draft, cmd: Command, ctx: CommandContext): CommandValue {
  switch (cmd.kind) {
    case 'addProxy':
      return (applyAddProxy(draft, cmd), null);
    case 'removeProxy':
      return (applyRemoveProxy(draft, cmd), null);
    case 'addFailure':
      return (applyAddFailure(draft, cmd, ctx.now), null);
    case 'pruneFailures':
      return applyPruneFailures(draft, cmd, ctx.now);
    case 'addCluster':
      return (applyAddCluster(draft, cmd), null);
    case 'removeCluster':
      return (applyRemoveCluster(draft, cmd), null);
    case 'addNodes':
      return applyAddNodes(draft, cmd, ctx.migrationLimit);
    case 'scaleNodes':
      return applyScaleNodes(draft, cmd, ctx.migrationLimit);
    case 'deleteFreeNodes':
      return (applyDeleteFreeNodes(draft, cmd), null);
    case 'balanceMasters':
      return (applyBalanceMasters(draft, cmd), null);
    case 'changeConfig':
      return (applyChangeConfig(draft, cmd), null);
    case 'expand':
      return (applyExpand(draft, cmd), null);
    case 'shrink':
      return (applyShrink(draft, cmd), null);
    case 'commitMigration':
      return (applyCommitMigration(draft, cmd), null);
    case 'failover':
      return applyFailover(draft, cmd, ctx.migrationLimit);
    case 'forceEpoch':
      return (applyForceEpoch(draft, cmd), null);
    case 'recoverEpoch':
      return applyRecoverEpoch(draft, cmd);
    case 'restore':
      throw new Error('restore is applied by applyCommand');
    default:
      return unreachable(cmd);
  }
}

/** The change set of a whole store replaced. */
export const ALL_CHANGED: ChangeSet = {
  clusters: new Set(),
  proxies: new Set(),
  failedProxies: true,
  failed: new Set(),
  failures: new Set(),
  reports: [],
  epoch: true,
  keys: true,
};

/**
 * A command applied to the store but not yet committed: the seam where the
 * owner makes a change durable (file or etcd) before anyone can see it.
 * Exactly one of `commit` or `rollback` must be called, and nothing else may
 * touch the store in between.
 */
export interface PreparedCommand {
  /** The answer once committed. `changes` is null when the command changed nothing. */
  readonly outcome: CommandOutcome;
  /** The store as it will be after commit: the live store, or a whole replacement (restore). */
  readonly next: MutableStore;
  /** True when `next` replaces the store rather than being it. */
  readonly replacesStore: boolean;
  commit(): ChangeSet;
  rollback(): void;
}

const NOTHING_TO_DO = { commit: (): ChangeSet => ALL_CHANGED, rollback: (): void => {} };

/**
 * Applies one command to the store without committing it. A BrokerError
 * comes back as data in the outcome, with the store exactly as it was (and
 * `changes: null`). Any other exception (a bug) rolls the store back and is
 * rethrown.
 */
export function prepareCommand(store: MutableStore, cmd: Command, ctx: CommandContext): PreparedCommand {
  if (cmd.kind === 'restore') {
    let replacement: MutableStore;
    try {
      replacement =
        'built' in cmd
          ? cmd.built
          : cmd.checked
            ? storeFromDocument(cmd.document)
            : storeFromValidDocument(cmd.document, ctx.now);
    } catch (err) {
      if (!(err instanceof BrokerError)) throw err;
      return {
        outcome: { ok: false, error: err.toWire(), changes: null },
        next: store,
        replacesStore: false,
        ...NOTHING_TO_DO,
      };
    }
    return {
      outcome: { ok: true, value: null, changes: ALL_CHANGED },
      next: replacement,
      replacesStore: true,
      commit: () => (replaceStore(store, replacement), ALL_CHANGED),
      rollback: () => {},
    };
  }
  const draft = new Draft(store);
  let value: CommandValue = null;
  let partial: PartialFailure | null = null;
  try {
    value = dispatch(draft, cmd, ctx);
  } catch (err) {
    if (!(err instanceof PartialFailure)) {
      draft.rollback();
      if (err instanceof BrokerError)
        return {
          outcome: { ok: false, error: err.toWire(), changes: null },
          next: store,
          replacesStore: false,
          ...NOTHING_TO_DO,
        };
      throw err;
    }
    partial = err;
  }
  // A command that wrote nothing (a report on an unknown address) has nothing to persist or publish.
  const changes = draft.untouched ? null : draft.changes();
  const outcome: CommandOutcome = partial
    ? { ok: false, error: partial.toWire(), changes }
    : { ok: true, value, changes };
  return { outcome, next: store, replacesStore: false, commit: () => draft.commit(), rollback: () => draft.rollback() };
}

/**
 * Runs after a command succeeded (or partly failed with changes that stand)
 * and before its changes are committed; throwing rolls the command back.
 */
export type BeforeCommit = (store: MutableStore) => void;

/** Applies and commits one command synchronously (tests, the in-process backend). */
export function applyCommand(
  store: MutableStore,
  cmd: Command,
  ctx: CommandContext,
  beforeCommit?: BeforeCommit,
): CommandOutcome {
  const prepared = prepareCommand(store, cmd, ctx);
  if (prepared.outcome.changes === null) return prepared.outcome;
  try {
    beforeCommit?.(prepared.next);
  } catch (err) {
    prepared.rollback();
    throw err;
  }
  const changes = prepared.commit();
  return { ...prepared.outcome, changes };
}
