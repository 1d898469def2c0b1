/**
 * etcd mode: a write that reaches a follower is sent on to the leader, and
 * the leader's answer relayed, so clients may use any broker. The answer is
 * held until this broker has published the leader's change (bounded wait),
 * so a client that reads here right after its write sees it.
 */
import { Agent, request } from 'node:http';
import type { Reply } from './reply.js';
import { codeReply } from './reply.js';

export const FORWARDED_HEADER = 'x-metabroker-forwarded';
export const REVISION_HEADER = 'x-metabroker-revision';

export interface ForwardRequest {
  readonly method: string;
  /** Path and query, as received. */
  readonly target: string;
  readonly contentType: string;
  readonly authorization: string;
  readonly body: Uint8Array | null;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** Sends a write to the leader at `leaderUrl` and returns its answer; never rejects. */
export function forwardToLeader(
  leaderUrl: string,
  req: ForwardRequest,
  timeoutMs: number,
): Promise<Reply & { revision: number }> {
  return new Promise((resolve) => {
    const url = new URL(req.target, leaderUrl);
    const headers: Record<string, string> = { [FORWARDED_HEADER]: '1' };
    if (req.contentType) headers['content-type'] = req.contentType;
    if (req.authorization) headers.authorization = req.authorization;
    if (req.body) headers['content-length'] = String(req.body.byteLength);
    const unavailable = (why: string) => resolve({ ...codeReply('NO_LEADER', why), revision: 0 });
    const outgoing = request(url, { method: req.method, headers, agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', () => unavailable('the leader closed the connection'));
      res.on('end', () => {
        const revision = Number(res.headers[REVISION_HEADER] ?? 0);
        const contentType = res.headers['content-type'] ?? null;
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 502,
          contentType: body === '' ? null : contentType,
          body,
          revision: Number.isSafeInteger(revision) ? revision : 0,
        });
      });
    });
    outgoing.on('timeout', () => outgoing.destroy(new Error('timeout')));
    outgoing.on('error', (err) => unavailable(`the leader at ${leaderUrl} did not answer: ${err.message}`));
    if (req.body) outgoing.end(Buffer.from(req.body.buffer, req.body.byteOffset, req.body.byteLength));
    else outgoing.end();
  });
}
