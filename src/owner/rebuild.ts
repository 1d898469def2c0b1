/**
 * A restore's store, rebuilt on the owner thread from the sliced snapshot
 * text its worker produced, a slice at a time: between slices the thread
 * goes back to its event loop, so that a document of hundreds of megabytes
 * never holds it (etcd keep-alives, timers, other messages) for more than
 * a slice's parse.
 */
import { emptyStore, mergeDocumentSlice } from '../domain/store.js';
import type { MutableStore } from '../domain/types.js';
import { decodeSlices } from '../snapshot/codec.js';
import type { SnapshotText } from '../snapshot/layout.js';

/** Longest run of slices between two returns to the event loop. */
const SLICE_BUDGET_MS = 10;

export async function storeFromSnapshotText(text: SnapshotText): Promise<MutableStore> {
  const store = emptyStore();
  let since = performance.now();
  for (const slice of decodeSlices(new Uint8Array(text.bytes), text.length)) {
    mergeDocumentSlice(store, slice);
    if (performance.now() - since >= SLICE_BUDGET_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      since = performance.now();
    }
  }
  return store;
}
