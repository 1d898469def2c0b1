/** Replacing the whole store from a document (PUT /metadata, the metadata file). */
import { checkMetadata } from '../check.js';
import { META_VERSION } from '../constants.js';
import { BrokerError } from '../errors.js';
import { storeFromDocument } from '../store.js';
import type { MetaDocument, MutableStore } from '../types.js';

export interface Restore {
  readonly kind: 'restore';
  readonly document: MetaDocument;
}

/**
 * Validates a document that has the right shape and builds a store from it.
 * A document of another version is INVALID_META_VERSION; an inconsistent one
 * is INVALID_REQUEST naming the first problem.
 */
export function storeFromValidDocument(document: MetaDocument): MutableStore {
  if (document.version !== META_VERSION) throw new BrokerError('INVALID_META_VERSION');
  const store = storeFromDocument(document);
  const problems = checkMetadata(store);
  if (problems.length > 0) throw new BrokerError('INVALID_REQUEST', `inconsistent metadata: ${problems[0]}`);
  return store;
}
