/** Replacing the whole store from a document (PUT /metadata, the metadata file). */
import { checkMetadata } from '../check.js';
import { MAX_REPORTERS_PER_PROXY, META_VERSION } from '../constants.js';
import { BrokerError } from '../errors.js';
import { storeFromDocument } from '../store.js';
import type { MetaDocument, MutableStore } from '../types.js';

export type Restore =
  | {
      readonly kind: 'restore';
      readonly document: MetaDocument;
      /**
       * The document already went through storeFromValidDocument (off the
       * owner thread): it is only converted, not checked again.
       */
      readonly checked?: boolean;
    }
  /** A store built from a document that went through storeFromValidDocument elsewhere; taken as it is. */
  | { readonly kind: 'restore'; readonly built: MutableStore };

/**
 * Validates a document that has the right shape and builds a store from it.
 * A document of another version is INVALID_META_VERSION; an inconsistent one
 * (or one holding a name the API could not carry back) is INVALID_REQUEST
 * naming the first problem. Failure reports are then held to what the
 * broker itself would have stored at `now` (unix seconds): see
 * boundFailureReports.
 */
export function storeFromValidDocument(document: MetaDocument, now: number): MutableStore {
  if (document.version !== META_VERSION) throw new BrokerError('INVALID_META_VERSION');
  const store = storeFromDocument(document);
  const problems = checkMetadata(store);
  if (problems.length > 0) throw new BrokerError('INVALID_REQUEST', `inconsistent metadata: ${problems[0]}`);
  boundFailureReports(store, now);
  return store;
}

/**
 * Reports on addresses that are not registered proxies are dropped (the
 * broker no longer stores those); a report time in the future is taken as
 * `now`, so that it expires like any other; an address with more than
 * MAX_REPORTERS_PER_PROXY reporters keeps the newest ones. Each address's
 * reports end up oldest first, as Draft.report keeps them.
 */
export function boundFailureReports(store: MutableStore, now: number): void {
  for (const [address, reports] of [...store.failures]) {
    if (!store.proxies.has(address) || reports.size === 0) {
      store.failures.delete(address);
      continue;
    }
    let sorted = true;
    let last = -Infinity;
    for (const [reporter, at] of reports) {
      const clamped = Math.min(at, now);
      if (clamped !== at) reports.set(reporter, clamped);
      if (clamped < last) sorted = false;
      last = clamped;
    }
    if (sorted && reports.size <= MAX_REPORTERS_PER_PROXY) continue;
    const kept = [...reports].sort((a, b) => a[1] - b[1]).slice(-MAX_REPORTERS_PER_PROXY);
    store.failures.set(address, new Map(kept));
  }
}
