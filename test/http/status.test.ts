import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BrokerError, ERROR_CODES } from '../../src/domain/errors.js';
import type { ErrorCode } from '../../src/domain/errors.js';
import type { BugLog } from '../../src/http/reply.js';
import { codeReply, errorReply, replyForThrown } from '../../src/http/reply.js';
import { HTTP_STATUS, statusLine } from '../../src/http/status.js';

// docs/api.md#error-codes, written out independently of status.ts.
const SPEC_TABLE: Record<number, ErrorCode[]> = {
  400: [
    'INVALID_CLUSTER_NAME',
    'INVALID_NODE_NUMBER',
    'INVALID_PROXY_ADDRESS',
    'INVALID_MIGRATION_TASK',
    'INVALID_REQUEST',
  ],
  404: ['CLUSTER_NOT_FOUND', 'PROXY_NOT_FOUND', 'MIGRATION_TASK_NOT_FOUND', 'NOT_FOUND'],
  409: [
    'ALREADY_EXISTED',
    'NO_AVAILABLE_RESOURCE',
    'RESOURCE_NOT_BALANCE',
    'IN_USE',
    'MIGRATION_RUNNING',
    'NODE_NUM_ALREADY_ENOUGH',
    'FREE_NODE_NOT_FOUND',
    'FREE_NODE_FOUND',
    'SLOTS_ALREADY_EVEN',
    'INVALID_CONFIG',
    'INVALID_META_VERSION',
    'EPOCH_SMALLER_THAN_CURRENT',
  ],
  413: ['BODY_TOO_LARGE'],
  401: ['UNAUTHORIZED'],
  503: ['SERVICE_BUSY', 'RESTORE_IN_PROGRESS', 'NO_LEADER', 'NOT_LEADER', 'STORAGE_UNAVAILABLE'],
  500: ['PERSISTENCE_IO_ERROR', 'INTERNAL_ERROR'],
};

test('status table: every error code has the status docs/api.md#error-codes gives it', () => {
  const listed = Object.values(SPEC_TABLE).flat();
  assert.equal(new Set(listed).size, listed.length, 'no code is listed twice');
  assert.deepEqual(
    [...listed].sort(),
    Object.keys(ERROR_CODES).sort(),
    'the docs table names exactly the domain codes',
  );
  for (const [status, codes] of Object.entries(SPEC_TABLE)) {
    for (const code of codes) assert.equal(HTTP_STATUS[code], Number(status), code);
  }
});

test('status table: every status has a reason phrase', () => {
  for (const status of new Set(Object.values(HTTP_STATUS))) {
    assert.match(statusLine(status), new RegExp(`^${status} [A-Z]`));
  }
  assert.equal(statusLine(200), '200 OK');
});

test('errorReply: plain codes carry only `error`', () => {
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    if (code === 'INVALID_REQUEST' || code === 'INVALID_CONFIG') continue;
    const reply = errorReply({ code, message: 'ignored detail' });
    assert.equal(reply.status, HTTP_STATUS[code]);
    assert.equal(reply.contentType, 'application/json');
    assert.deepEqual(JSON.parse(reply.body), { error: code });
  }
});

test('errorReply: INVALID_REQUEST always carries a message', () => {
  assert.deepEqual(JSON.parse(errorReply({ code: 'INVALID_REQUEST', message: 'node_number: must be integer' }).body), {
    error: 'INVALID_REQUEST',
    message: 'node_number: must be integer',
  });
  assert.deepEqual(JSON.parse(codeReply('INVALID_REQUEST').body), {
    error: 'INVALID_REQUEST',
    message: ERROR_CODES.INVALID_REQUEST,
  });
});

test('errorReply: INVALID_CONFIG carries key, value and message from the details', () => {
  const reply = errorReply({
    code: 'INVALID_CONFIG',
    details: { key: 'compression_strategy', value: 'zip', message: 'INVALID_VALUE' },
  });
  assert.equal(reply.status, 409);
  assert.deepEqual(JSON.parse(reply.body), {
    error: 'INVALID_CONFIG',
    key: 'compression_strategy',
    value: 'zip',
    message: 'INVALID_VALUE',
  });
});

test('replyForThrown: a BrokerError keeps its code; anything else is a 500 logged through the given logger', () => {
  const logged: unknown[][] = [];
  const log = { error: (...args: unknown[]) => void logged.push(args) } as unknown as BugLog;
  assert.deepEqual(JSON.parse(replyForThrown(new BrokerError('SERVICE_BUSY'), 'test', log).body), {
    error: 'SERVICE_BUSY',
  });
  assert.equal(logged.length, 0);
  const reply = replyForThrown(new TypeError('boom'), 'GET /x', log);
  assert.equal(reply.status, 500);
  assert.deepEqual(JSON.parse(reply.body), { error: 'INTERNAL_ERROR' });
  assert.equal(logged.length, 1);
  assert.match(JSON.stringify(logged[0]), /boom.*GET \/x/s);
});
