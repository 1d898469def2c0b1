/**
 * Replies as plain data, built by handlers and written by the uWS glue.
 * Error bodies follow docs/api.md#error-body: `{"error": CODE}`, plus `message` for
 * INVALID_REQUEST and `key`/`value`/`message` for INVALID_CONFIG.
 */
import type { HttpResponse } from '@trufflesuite/uws-js-unofficial';
import type { Logger } from '../log.js';
import { BrokerError, ERROR_CODES } from '../domain/errors.js';
import type { ErrorCode, WireError } from '../domain/errors.js';
import { HTTP_STATUS, statusLine } from './status.js';

export type ContentType = 'application/json' | 'text/plain' | (string & {});

export interface Reply {
  readonly status: number;
  /** null for the empty-bodied 200 answers. */
  readonly contentType: ContentType | null;
  readonly body: string;
  /** etcd mode: the storage revision holding the write this answers, sent as a header for forwarding brokers. */
  readonly revision?: number;
}

export const EMPTY_REPLY: Reply = { status: 200, contentType: null, body: '' };

/** A 200 answer whose body is already JSON text ('' means an empty 200). */
export function jsonTextReply(body: string): Reply {
  return body === '' ? EMPTY_REPLY : { status: 200, contentType: 'application/json', body };
}

export function jsonReply(value: unknown): Reply {
  return { status: 200, contentType: 'application/json', body: JSON.stringify(value) };
}

export function textReply(body: string): Reply {
  return { status: 200, contentType: 'text/plain', body };
}

export function errorReply(error: WireError): Reply {
  const body: Record<string, string> = { error: error.code };
  if (error.code === 'INVALID_REQUEST') body.message = error.message ?? ERROR_CODES.INVALID_REQUEST;
  if (error.code === 'INVALID_CONFIG' && error.details) {
    body.key = error.details.key;
    body.value = error.details.value;
    body.message = error.details.message;
  }
  return { status: HTTP_STATUS[error.code], contentType: 'application/json', body: JSON.stringify(body) };
}

export function codeReply(code: ErrorCode, message?: string): Reply {
  return errorReply(message === undefined ? { code } : { code, message });
}

export const NOT_FOUND_REPLY = codeReply('NOT_FOUND');

/**
 * The reply for anything a handler threw: a BrokerError keeps its code;
 * anything else is a bug, logged and answered 500 INTERNAL_ERROR.
 */
export function replyForThrown(err: unknown, context: string, log: BugLog): Reply {
  if (err instanceof BrokerError) return errorReply(err.toWire());
  log.error(
    { err: err instanceof Error ? (err.stack ?? err.message) : String(err), request: context },
    'unexpected error; answered 500',
  );
  return codeReply('INTERNAL_ERROR');
}

/** Where the HTTP layer reports its own bugs: the broker's pino logger. */
export type BugLog = Pick<Logger, 'error'>;

/**
 * Writes a whole reply; call it corked (inside the handler's sync part, or
 * res.cork). The answer to a HEAD request carries no body (RFC 9110 9.3.2):
 * a keep-alive client would read one as the start of the next response.
 */
export function writeReply(res: HttpResponse, reply: Reply, method: string): void {
  res.writeStatus(statusLine(reply.status));
  if (reply.contentType !== null) res.writeHeader('Content-Type', reply.contentType);
  if (reply.revision) res.writeHeader('X-Metabroker-Revision', String(reply.revision));
  // endWithoutBody(length) closes the connection in this uWS build; without a length it keeps it.
  if (method === 'HEAD') res.endWithoutBody();
  else res.end(reply.body);
}
