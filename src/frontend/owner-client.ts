/**
 * The front end's side of the owner thread: starts it (loading the
 * metadata file or etcd), sends it writes in arrival order and matches
 * their replies, and passes on what it publishes. Refusals of its own
 * (stopping, too many writes waiting) are thrown, as the reader pool's are.
 */
import { Worker } from 'node:worker_threads';
import type { Command } from '../domain/commands.js';
import { BrokerError } from '../domain/errors.js';
import type { CommandReply, OwnerEvent, OwnerOptions, OwnerOutbound, Timings } from '../rpc/messages.js';
import type { ChangeSummary } from '../rpc/messages.js';

export interface OwnerClientEvents {
  /** A generation was published: before the write's reply, if it came with one. */
  onChanges(changes: ChangeSummary): void;
  onEvent(event: OwnerEvent): void;
  /** Per write: the owner's own timings, and the round trip seen from here. */
  onTimings(timings: Timings, roundTripMs: number): void;
  /** The owner thread died while the broker was running: no write can be applied any more. */
  onLost(error: Error): void;
}

interface Pending {
  readonly resolve: (reply: CommandReply) => void;
  readonly reject: (err: Error) => void;
  readonly sentAt: number;
}

export class OwnerClient {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closing: Promise<void> | null = null;
  private exit: Error | null = null;

  private constructor(
    private readonly worker: Worker,
    private readonly maxPending: number,
    private readonly events: OwnerClientEvents,
  ) {
    worker.on('message', (m: OwnerOutbound) => this.onMessage(m));
    worker.on('exit', (code) => {
      this.exit = new Error(`owner thread exited with code ${code}`);
      for (const p of this.pending.values()) p.reject(this.exit);
      this.pending.clear();
      if (!this.closing) events.onLost(this.exit);
    });
    worker.on('error', (err) => {
      this.exit = err;
    });
  }

  /** Starts the owner thread and waits until it is ready (or failed to start). */
  static async start(options: OwnerOptions, maxPending: number, events: OwnerClientEvents): Promise<{ client: OwnerClient; generation: number; globalEpoch: number }> {
    const worker = new Worker(new URL('../../workers/owner.js', import.meta.url), { workerData: options });
    const ready = await new Promise<{ generation: number; globalEpoch: number }>((resolve, reject) => {
      const onMessage = (m: OwnerOutbound) => {
        if (m.type === 'ready') done(null, { generation: m.generation, globalEpoch: m.globalEpoch });
        else if (m.type === 'fatal') done(new Error(m.message));
      };
      const onExit = (code: number) => done(new Error(`owner thread exited with code ${code} during start`));
      const onError = (err: Error) => done(err);
      const done = (err: Error | null, value?: { generation: number; globalEpoch: number }) => {
        worker.off('message', onMessage);
        worker.off('exit', onExit);
        worker.off('error', onError);
        if (err) reject(err);
        else resolve(value!);
      };
      worker.on('message', onMessage);
      worker.on('exit', onExit);
      worker.on('error', onError);
    });
    return { client: new OwnerClient(worker, maxPending, events), ...ready };
  }

  command(cmd: Command): Promise<CommandReply> {
    return this.send((id) => this.worker.postMessage({ type: 'command', id, cmd }));
  }

  /** Hands a restore's body to the owner, which parses and checks it in a worker: this thread only moves the bytes. */
  restore(body: Uint8Array): Promise<CommandReply> {
    // Transferred, not copied: a body that shares its buffer is copied out first.
    const whole = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer;
    const bytes = whole ? body.buffer : body.slice().buffer;
    return this.send((id) => this.worker.postMessage({ type: 'restore', id, body: bytes }, [bytes]));
  }

  private send(post: (id: number) => void): Promise<CommandReply> {
    if (this.closing || this.exit) return Promise.reject(new BrokerError('SERVICE_BUSY', 'the broker is shutting down'));
    if (this.pending.size >= this.maxPending) return Promise.reject(new BrokerError('SERVICE_BUSY', 'too many writes are waiting'));
    const id = this.nextId++;
    return new Promise<CommandReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, sentAt: performance.now() });
      post(id);
    });
  }

  /** Stops taking writes, waits for those in flight, lets the owner flush, and stops it. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      while (this.pending.size > 0) await new Promise((r) => setTimeout(r, 5));
      if (this.exit) return;
      await new Promise<void>((resolve) => {
        this.worker.on('message', (m: OwnerOutbound) => m.type === 'closed' && resolve());
        this.worker.once('exit', () => resolve());
        this.worker.postMessage({ type: 'close' });
      });
      await this.worker.terminate();
    })();
    return this.closing;
  }

  /** For tests: the owner thread itself. */
  get thread(): Worker {
    return this.worker;
  }

  private onMessage(m: OwnerOutbound): void {
    switch (m.type) {
      case 'reply': {
        if (m.changes) this.events.onChanges(m.changes);
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        this.events.onTimings(m.timings, performance.now() - p.sentAt);
        p.resolve(m.reply);
        return;
      }
      case 'changed':
        this.events.onChanges(m.changes);
        return;
      case 'event':
        this.events.onEvent(m.event);
        return;
      default:
        return;
    }
  }
}
