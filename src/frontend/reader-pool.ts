/**
 * The reader threads (piscina): each answers a query from its own replica
 * of the newest published snapshot. Backpressure is refused here with a
 * thrown SERVICE_BUSY, as the owner client refuses writes.
 */
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { BrokerError } from '../domain/errors.js';
import type { QueryRequest, ReadSettings, ReaderReply } from '../rpc/messages.js';
import type { SnapshotBuffers } from '../snapshot/layout.js';

export class ReaderPool {
  private readonly pool: Piscina;

  /** `threads` 0 picks one per core beyond the front end's, at least 1. */
  constructor(
    buffers: SnapshotBuffers,
    settings: ReadSettings,
    threads: number,
    private readonly maxQueued: number,
  ) {
    const count = threads > 0 ? threads : Math.max(1, availableParallelism() - 1);
    this.pool = new Piscina({
      filename: new URL('../../workers/query.js', import.meta.url).href,
      minThreads: count,
      maxThreads: count,
      idleTimeout: 2 ** 31 - 1,
      maxQueue: maxQueued,
      workerData: { buffers, settings },
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
