/**
 * The one place where an error code becomes an HTTP status (docs/api.md#error-codes).
 * Typed over every ErrorCode, so a code added to the domain without a
 * status here fails compilation.
 */
import type { ErrorCode } from '../domain/errors.js';

export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  INVALID_CLUSTER_NAME: 400,
  INVALID_NODE_NUMBER: 400,
  INVALID_PROXY_ADDRESS: 400,
  INVALID_MIGRATION_TASK: 400,
  INVALID_REQUEST: 400,
  CLUSTER_NOT_FOUND: 404,
  PROXY_NOT_FOUND: 404,
  MIGRATION_TASK_NOT_FOUND: 404,
  NOT_FOUND: 404,
  ALREADY_EXISTED: 409,
  NO_AVAILABLE_RESOURCE: 409,
  RESOURCE_NOT_BALANCE: 409,
  IN_USE: 409,
  MIGRATION_RUNNING: 409,
  NODE_NUM_ALREADY_ENOUGH: 409,
  FREE_NODE_NOT_FOUND: 409,
  FREE_NODE_FOUND: 409,
  SLOTS_ALREADY_EVEN: 409,
  INVALID_CONFIG: 409,
  INVALID_META_VERSION: 409,
  EPOCH_SMALLER_THAN_CURRENT: 409,
  BODY_TOO_LARGE: 413,
  UNAUTHORIZED: 401,
  SERVICE_BUSY: 503,
  RESTORE_IN_PROGRESS: 503,
  PERSISTENCE_IO_ERROR: 500,
  NO_LEADER: 503,
  NOT_LEADER: 503,
  STORAGE_UNAVAILABLE: 503,
  INTERNAL_ERROR: 500,
};

/** Reason phrases for the statuses this server answers with. */
export const STATUS_LINE: Readonly<Record<number, string>> = {
  200: '200 OK',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  404: '404 Not Found',
  409: '409 Conflict',
  413: '413 Payload Too Large',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

export function statusLine(status: number): string {
  return STATUS_LINE[status] ?? String(status);
}
