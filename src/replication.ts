/**
 * Replication (docs/operations.md#replication): PUT the whole stored document to each replica
 * broker's /api/v2/metadata. One attempt per call; the caller's timer retries.
 */
import { request } from 'node:http';
import { splitHostPort } from './config.js';

export interface ReplicationResult {
  readonly address: string;
  readonly ok: boolean;
  /** Why it failed: a transport error, a timeout, or the replica's status and body. */
  readonly error?: string;
}

export interface ReplicationOptions {
  /** Sent as `Authorization: Bearer <token>` when set. */
  readonly token?: string | undefined;
  /** Bound on the whole exchange with one replica (connect, upload, answer). */
  readonly timeoutMs?: number | undefined;
}

const DEFAULT_TIMEOUT_MS = 10_000;
// Enough of a replica's error answer to name its code; the rest is dropped.
const MAX_ERROR_BODY = 512;

/** Sends `body` to every replica in parallel. Never throws; one result per address, in order. */
export async function replicateOnce(
  addresses: readonly string[],
  body: string,
  opts: ReplicationOptions = {},
): Promise<ReplicationResult[]> {
  const payload = Buffer.from(body, 'utf8');
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return Promise.all(addresses.map((address) => putMetadata(address, payload, opts.token, timeoutMs)));
}

function putMetadata(
  address: string,
  payload: Buffer,
  token: string | undefined,
  timeoutMs: number,
): Promise<ReplicationResult> {
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(error === undefined ? { address, ok: true } : { address, ok: false, error });
    };

    const target = splitHostPort(address);
    if (target === null) {
      finish(`invalid replica address ${JSON.stringify(address)}: must be host:port`);
      return;
    }

    const headers: Record<string, string | number> = {
      'Content-Type': 'application/json',
      'Content-Length': payload.length,
    };
    if (token) headers.Authorization = `Bearer ${token}`;

    try {
      // No keep-alive agent: one exchange per interval, and nothing stays open afterwards.
      const options = {
        host: target.host,
        port: target.port,
        path: '/api/v2/metadata',
        method: 'PUT',
        headers,
        agent: false,
      };
      const req = request(options, (res) => {
        const status = res.statusCode ?? 0;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (text.length < MAX_ERROR_BODY) text += chunk;
        });
        res.on('end', () => {
          if (status >= 200 && status < 300) finish();
          else finish(`HTTP ${status}${text ? `: ${text.slice(0, MAX_ERROR_BODY)}` : ''}`);
        });
        res.on('error', (err) => finish(err.message));
      });
      timer = setTimeout(() => {
        finish(`timed out after ${timeoutMs} ms`);
        req.destroy();
      }, timeoutMs);
      req.on('error', (err) => finish(err.message || String(err)));
      req.end(payload);
    } catch (err) {
      finish(err instanceof Error ? err.message : String(err));
    }
  });
}
