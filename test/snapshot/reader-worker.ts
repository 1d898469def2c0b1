/** A reader thread for the torn-read stress test: polls until told to stop, counting what it saw, and reports it. */
import { parentPort, workerData } from 'node:worker_threads';
import { storeToDocument } from '../../src/domain/store.js';
import type { SnapshotBuffers } from '../../src/snapshot/layout.js';
import { SnapshotReader } from '../../src/snapshot/reader.js';

const { buffers, control, index } = workerData as { buffers: SnapshotBuffers; control: Int32Array; index: number };
const reader = new SnapshotReader(buffers);
const seen: { generation: number; document: string }[] = [];
let last = -1;
while (Atomics.load(control, 0) === 0) {
  const { store, generation } = reader.refresh();
  if (generation !== last) {
    seen.push({ generation, document: JSON.stringify(storeToDocument(store)) });
    last = generation;
    Atomics.store(control, 1 + index, seen.length);
  }
}
parentPort!.postMessage({ seen, fullLoads: reader.fullLoads });
