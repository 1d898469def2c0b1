/** Forcing and recovering epochs. */
import { MAX_EPOCH } from '../constants.js';
import { BrokerError } from '../errors.js';
import type { Draft } from '../store.js';

function setAllEpochs(draft: Draft, epoch: number): void {
  draft.setGlobalEpoch(epoch);
  for (const cluster of [...draft.store.clusters.values()]) draft.setCluster({ ...cluster, epoch });
}

export interface ForceEpoch {
  readonly kind: 'forceEpoch';
  readonly epoch: number;
}

/** Sets the global and every cluster epoch; it must rise. */
export function applyForceEpoch(draft: Draft, cmd: ForceEpoch): void {
  if (cmd.epoch <= draft.globalEpoch) throw new BrokerError('EPOCH_SMALLER_THAN_CURRENT');
  if (cmd.epoch > MAX_EPOCH) throw new BrokerError('INVALID_REQUEST', `epoch must be at most ${MAX_EPOCH}`);
  setAllEpochs(draft, cmd.epoch);
}

export interface RecoverEpoch {
  readonly kind: 'recoverEpoch';
  /** The largest epoch any proxy answered, or 0 when none answered. */
  readonly largestProxyEpoch: number;
}

/** Moves every epoch past both the proxies' and the broker's own. */
export function applyRecoverEpoch(draft: Draft, cmd: RecoverEpoch): number {
  const epoch = Math.max(cmd.largestProxyEpoch + 1, draft.globalEpoch + 1);
  if (epoch > MAX_EPOCH) throw new BrokerError('INVALID_REQUEST', `a proxy answered an epoch beyond ${MAX_EPOCH - 1}`);
  setAllEpochs(draft, epoch);
  return epoch;
}
