/**
 * The reader threads (piscina): each answers a query from its own replica
 * of the newest published snapshot. Backpressure is refused here with a
 * thrown SERVICE_BUSY, as the owner client refuses writes.
 */
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { BrokerError } from '../domain/errors.js';
import type { QueryRequest, ReadSettings, ReaderReply } from '../rpc/messages.js';
import type { SnapshotBuffers } from '../snapshot/layout.js';

export class ReaderPool {
  private readonly pool: Piscina;
  /** Reader threads. */
  readonly threads: number;
  /** Where the owner hands them a whole-store replacement before publishing it. */
  readonly stagingChannel = `metabroker-staging-${randomUUID()}`;

  /** `threads` 0 picks one per core beyond the front end's, at least 1. */
  constructor(
    buffers: SnapshotBuffers,
    settings: ReadSettings,
    threads: number,
    private readonly maxQueued: number,
  ) {
    const count = threads > 0 ? threads : Math.max(1, availableParallelism() - 1);
    this.threads = count;
    this.pool = new Piscina({
      filename: new URL('../../workers/query.js', import.meta.url).href,
      minThreads: count,
      maxThreads: count,
      idleTimeout: 2 ** 31 - 1,
      maxQueue: maxQueued,
      // Idle readers wait in their event loop, not in Atomics.wait: the
      // owner's staged snapshots reach them there (see workers/query.ts).
      atomics: 'disabled',
      workerData: { buffers, settings, stagingChannel: this.stagingChannel },
    });
  }

  async run(q: QueryRequest): Promise<ReaderReply> {
    if (this.pool.queueSize >= this.maxQueued) throw new BrokerError('SERVICE_BUSY', 'too many reads are waiting');
    return (await this.pool.run(q)) as ReaderReply;
  }

  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}
