/**
 * Epoch recovery (PUT /epoch/recovery, docs/api.md#recover-epochs-from-the-proxies): ask every proxy for
 * its epoch with `UMCTL GETEPOCH` over the Redis protocol.
 */
import { Redis } from 'ioredis';
import { splitHostPort } from './config.js';

export interface EpochFetchResult {
  /** The largest epoch any proxy reported; 0 when none answered. */
  readonly largest: number;
  /** Proxies that did not answer with an integer, sorted. */
  readonly failed: string[];
}

/** Called once per failed proxy with the reason, for the caller's log. */
export type EpochFailureListener = (address: string, reason: string) => void;

/**
 * Queries all proxies in parallel. Each gets one connection and one command,
 * bounded by `timeoutMs` as a whole, so the call takes at most about
 * `timeoutMs` however many proxies hang. Only an integer reply counts, as in
 * the reference; an error reply, another reply type, a negative or unsafe
 * integer, a timeout, a refused connection or a protocol error marks the
 * proxy failed. Never throws, and returns only after every connection is closed.
 */
export async function fetchProxyEpochs(
  addresses: readonly string[],
  timeoutMs = 1000,
  onFailure?: EpochFailureListener,
): Promise<EpochFetchResult> {
  const outcomes = await Promise.all(addresses.map((address) => fetchEpoch(address, timeoutMs)));
  let largest = 0;
  const failed: string[] = [];
  outcomes.forEach((outcome, i) => {
    const address = addresses[i]!;
    if (typeof outcome === 'number') {
      largest = Math.max(largest, outcome);
    } else {
      failed.push(address);
      try {
        onFailure?.(address, outcome.reason);
      } catch {
        // a faulty listener must not break recovery
      }
    }
  });
  failed.sort();
  return { largest, failed };
}

type Outcome = number | { reason: string };

async function fetchEpoch(address: string, timeoutMs: number): Promise<Outcome> {
  const target = splitHostPort(address);
  if (target === null) return { reason: 'not a host:port address' };

  const client = new Redis({
    host: target.host,
    port: target.port,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    // One attempt only: no reconnects, no queueing, no resending.
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    reconnectOnError: null,
    // A proxy speaks a subset of RESP2: send nothing but our command
    // (no HELLO, CLIENT SETINFO or INFO ready check).
    protocol: 2,
    disableClientInfo: true,
    enableReadyCheck: false,
    // Integers then arrive as their exact digits (strings) while bulk and
    // simple strings arrive as Buffers (callBuffer), so the reply type is
    // still known and the digits can be checked strictly.
    stringNumbers: true,
    // Destroy the socket at once on disconnect instead of waiting for the peer.
    disconnectTimeout: 0,
  });
  // Failures surface through the promises below; an unhandled 'error' event would crash.
  client.on('error', () => {});

  let timer: NodeJS.Timeout | undefined;
  try {
    const attempt = (async () => {
      await client.connect();
      return client.callBuffer('UMCTL', 'GETEPOCH');
    })();
    attempt.catch(() => {}); // it may still settle after the deadline
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    return parseEpoch(await Promise.race([attempt, deadline]));
  } catch (err) {
    return { reason: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
    await closeClient(client);
  }
}

function parseEpoch(reply: unknown): Outcome {
  if (typeof reply !== 'string') return { reason: `not an integer reply: ${describeReply(reply)}` };
  if (!/^\d+$/.test(reply)) return { reason: `not a non-negative integer: ${JSON.stringify(reply)}` };
  const epoch = Number(reply);
  if (!Number.isSafeInteger(epoch)) return { reason: `epoch ${reply} is too large` };
  return epoch;
}

function describeReply(reply: unknown): string {
  if (Buffer.isBuffer(reply)) return `string ${JSON.stringify(reply.toString('utf8', 0, Math.min(reply.length, 64)))}`;
  if (Array.isArray(reply)) return 'an array';
  return String(reply);
}

/** Disconnects and waits until ioredis reports the connection ended (bounded). */
async function closeClient(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  let timer: NodeJS.Timeout | undefined;
  const ended = new Promise<void>((resolve) => {
    client.once('end', resolve);
    // Belt and braces: never let a missed event hold up recovery.
    timer = setTimeout(resolve, 1000);
  });
  client.disconnect();
  await ended;
  clearTimeout(timer);
  client.removeAllListeners();
}
