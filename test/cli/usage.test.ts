/**
 * The command line itself: exit statuses of usage errors, help and
 * version, the hint table, colours, tokens, completion scripts run in real
 * shells, `serve`, and the package's bin.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { ERROR_CODES } from '../../src/domain/errors.js';
import type { ErrorCode } from '../../src/domain/errors.js';
import { BrokerRefusal, HINTS } from '../../src/cli/errors.js';
import { HTTP_STATUS } from '../../src/http/status.js';
import { repoRoot, startBroker } from '../helpers/broker-process.js';
import { cli, cliOk, loadDocument, smallFleet, startCli } from '../helpers/cli.js';
import { requireTool } from '../helpers/tools.js';

const CODES = Object.keys(ERROR_CODES) as ErrorCode[];

test('every error code of the broker has a hint, and a refusal prints the code, its meaning and its hint', () => {
  assert.deepEqual(Object.keys(HINTS).sort(), [...CODES].sort());
  for (const code of CODES) {
    assert.match(HINTS[code], /^\S.*[.)]$/, `hint of ${code} is a sentence`);
    const refusal = BrokerRefusal.fromAnswer(HTTP_STATUS[code], JSON.stringify({ error: code }), 'PUT /api/v2/x');
    assert.equal(refusal.exitCode, 1);
    assert.deepEqual(refusal.describe(), [
      `error: ${code}: ${ERROR_CODES[code]} (refused by the broker, HTTP ${HTTP_STATUS[code]}; PUT /api/v2/x)`,
      `what to do: ${HINTS[code]}`,
    ]);
  }
  // A body that is not the broker's: the status stands in for the code.
  assert.deepEqual(BrokerRefusal.fromAnswer(502, 'Bad Gateway', 'GET /api/v2/failures').describe(), [
    'error: HTTP_502: the broker answered HTTP 502 without a known code (refused by the broker, HTTP 502; GET /api/v2/failures)',
    '  broker says: Bad Gateway',
    'what to do: check the broker URL and its logs.',
  ]);
});

test('usage errors exit 2: unknown command or option, bad -o, bad --broker, a group without its command', async () => {
  const cases: [string[], RegExp][] = [
    [['frobnicate'], /^error: unknown command 'frobnicate'/],
    [['status', '--frob'], /^error: unknown option '--frob'/],
    [
      ['-o', 'xml', 'status'],
      /^error: option '-o, --output <format>' argument 'xml' is invalid\. Allowed choices are table, json, wide\./,
    ],
    [['--broker', 'ftp://x', 'status'], /^error: --broker: ftp:\/\/x must start with http:\/\/ or https:\/\/\n$/],
    [['--broker', ',', 'status'], /^error: --broker: give at least one URL/],
    [
      ['--timeout', '0', 'status'],
      /^error: option '--timeout <seconds>' argument '0' is invalid\. must be a number of seconds above 0\./,
    ],
    [['status', '--watch', '--count', '-1'], /^error: option '-n, --count <refreshes>' argument '-1' is invalid/],
    [['clusters'], /^Usage: metabroker clusters \[options\] \[command\]/],
    [
      ['completion', 'fish'],
      /^error: command-argument value 'fish' is invalid for argument 'shell'\. Allowed choices are bash, zsh\./,
    ],
  ];
  for (const [words, stderr] of cases) {
    const r = await cli(words);
    assert.equal(r.code, 2, `${words.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, stderr, words.join(' '));
    assert.equal(r.stdout, '', words.join(' '));
  }
});

test('--help and --version exit 0 on stdout', async () => {
  const help = await cliOk(['--help']);
  for (const command of [
    'serve',
    'status',
    'proxies',
    'clusters',
    'failures',
    'failover',
    'migrations',
    'epoch',
    'metadata',
    'completion',
  ]) {
    assert.match(help, new RegExp(`^  ${command}\\b`, 'm'), command);
  }
  assert.match(
    await cliOk(['clusters', 'create', '--help']),
    /^Usage: metabroker clusters create \[options\] <name> <nodes>$/m,
  );
  const version = (JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  assert.equal(await cliOk(['--version']), `${version}\n`);
});

test('colours: none when piped or with NO_COLOR; FORCE_COLOR turns them on', async () => {
  const broker = await startBroker();
  try {
    await loadDocument(broker, smallFleet({ clusters: { c1: [['127.0.0.1:7001', '127.0.0.2:7001']] } }));
    const words = ['--broker', broker.origin, 'clusters', 'ls'];
    // eslint-disable-next-line no-control-regex
    const ansi = /\x1b\[/;
    assert.doesNotMatch(await cliOk(words, { env: { NO_COLOR: undefined } }), ansi, 'piped output has no colour');
    assert.match(await cliOk(words, { env: { NO_COLOR: undefined, FORCE_COLOR: '1' } }), ansi);
    assert.doesNotMatch(await cliOk(words, { env: { NO_COLOR: '1', FORCE_COLOR: '1' } }), ansi, 'NO_COLOR wins');
    assert.doesNotMatch(
      await cliOk(words, { env: { NO_COLOR: undefined, CI: 'true' } }),
      ansi,
      'CI alone does not colour a pipe',
    );
  } finally {
    await broker.kill();
  }
});

test('api_token: UNAUTHORIZED without it (exit 1); --token or UNDERMOON_API_TOKEN; open reads need none', async () => {
  const broker = await startBroker({ env: { UNDERMOON_API_TOKEN: 'sesame' } });
  try {
    const put = await broker.call(
      'PUT',
      '/metadata',
      smallFleet({ clusters: { c1: [['127.0.0.1:7001', '127.0.0.2:7001']] } }),
      { token: 'sesame' },
    );
    assert.equal(put.status, 200, put.text);
    const refused = await cli(['--broker', broker.origin, 'status']);
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr,
      'error: UNAUTHORIZED: a valid bearer token is required (refused by the broker, HTTP 401; GET /api/v2/metadata)\n' +
        "what to do: pass the broker's api_token with --token or the UNDERMOON_API_TOKEN environment variable.\n",
    );
    assert.match(await cliOk(['--broker', broker.origin, '--token', 'sesame', 'status']), /^global epoch {3}10$/m);
    assert.match(
      await cliOk(['--broker', broker.origin, 'status'], { env: { UNDERMOON_API_TOKEN: 'sesame' } }),
      /^global epoch {3}10$/m,
    );
    const wrong = await cli(['--broker', broker.origin, '--token', 'open', 'epoch', 'bump', '99']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^error: UNAUTHORIZED: /);
    // The coordinator routes stay open: the cluster table shows, with unknown hosts.
    assert.match(
      await cliOk(['--broker', broker.origin, 'clusters', 'show', 'c1']),
      /^ {4}0 {2}127\.0\.0\.1:7001, 127\.0\.0\.2:7001 {2}\?, \? +Normal/m,
    );
    assert.match(
      await cliOk(['--broker', broker.origin, '--token', 'sesame', 'clusters', 'show', 'c1']),
      /^ {4}0 {2}127\.0\.0\.1:7001, 127\.0\.0\.2:7001 {2}host1, host2 {2}Normal/m,
    );
  } finally {
    await broker.kill();
  }
});

/** Runs a bash completion for the words typed so far (the last one is being completed). */
function bashComplete(script: string, words: readonly string[]): string[] {
  const quoted = words.map((w) => `'${w}'`).join(' ');
  const call = `COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; COMPREPLY=(); _metabroker`;
  const program = `${script}\n${call}; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync('bash', ['--norc', '-c', program], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l !== '');
}

test('completion bash: sourced in bash, it completes commands, subcommands, options and -o values', async () => {
  const script = await cliOk(['completion', 'bash']);
  assert.deepEqual(bashComplete(script, ['metabroker', '']), [
    'serve',
    'status',
    'proxies',
    'clusters',
    'failures',
    'failover',
    'migrations',
    'epoch',
    'metadata',
    'completion',
  ]);
  assert.deepEqual(bashComplete(script, ['metabroker', 'cl']), ['clusters']);
  assert.deepEqual(bashComplete(script, ['metabroker', 'clusters', '']), [
    'ls',
    'show',
    'create',
    'rm',
    'add-nodes',
    'scale-to',
    'expand',
    'shrink',
    'config',
    'balance',
    'rm-free-nodes',
  ]);
  assert.deepEqual(bashComplete(script, ['metabroker', '--broker', 'http://b:1', 'clusters', 's']), [
    'show',
    'scale-to',
    'shrink',
  ]);
  assert.deepEqual(bashComplete(script, ['metabroker', '-o', '']), ['table', 'json', 'wide']);
  assert.deepEqual(bashComplete(script, ['metabroker', 'metadata', 'restore', '--']), [
    '--yes',
    '--version',
    '--broker',
    '--token',
    '--output',
    '--timeout',
    '--help',
  ]);
  assert.deepEqual(bashComplete(script, ['metabroker', 'epoch', '']), ['show', 'bump', 'recover']);
  // Past a command's own words, bash falls back to file names (complete -o default).
  assert.deepEqual(bashComplete(script, ['metabroker', 'metadata', 'restore', '']), []);
  assert.match(script, /^complete -o default -F _metabroker metabroker$/m);
});

test('completion zsh: sourced in zsh, it offers the same candidates', async () => {
  requireTool('zsh', 'zsh');
  const script = await cliOk(['completion', 'zsh']);
  assert.match(script, /^#compdef metabroker$/m);
  // compadd and _files work only inside a completion widget: stand-ins print what they are given.
  const complete = (words: readonly string[]) => {
    const program = [
      script,
      'compadd() { [[ $1 == -- ]] && shift; print -rl -- "$@"; }',
      '_files() { print -r -- "(files)"; }',
      `words=(${words.map((w) => `'${w}'`).join(' ')}); CURRENT=${words.length}; _metabroker`,
    ].join('\n');
    const r = spawnSync('zsh', ['-f', '-c', program], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split('\n').filter((l) => l !== '');
  };
  assert.deepEqual(complete(['metabroker', '']), [
    'serve',
    'status',
    'proxies',
    'clusters',
    'failures',
    'failover',
    'migrations',
    'epoch',
    'metadata',
    'completion',
  ]);
  assert.deepEqual(complete(['metabroker', '--token', 't', 'proxies', '']), ['ls', 'show', 'add', 'rm']);
  assert.deepEqual(complete(['metabroker', '--output', '']), ['table', 'json', 'wide']);
  assert.deepEqual(complete(['metabroker', 'metadata', 'backup', '']), ['(files)']);
  assert.ok(complete(['metabroker', 'status', '-']).includes('--watch'));
});

test('metabroker serve [config] runs the broker: it listens, answers, and stops on SIGTERM with status 0', async () => {
  const serve = startCli(['serve'], { env: { UNDERMOON_ADDRESS: '127.0.0.1:0', UNDERMOON_READER_THREADS: '1' } });
  await serve.waitFor((out) => /"msg":"listening"/.test(out), 'the listening log line');
  const port = (JSON.parse(serve.stdout.split('\n').find((l) => l.includes('"listening"'))!) as { port: number }).port;
  assert.equal(await cliOk(['--broker', `http://127.0.0.1:${port}`, 'clusters', 'ls', '-o', 'json']), '{"names":[]}\n');
  serve.child.kill('SIGTERM');
  const result = await serve.exited;
  assert.deepEqual([result.code, result.signal], [0, null], result.stderr);

  const bad = await cli(['serve', join(repoRoot(), 'no-such-config.toml')]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^metabroker: configuration error: .*no-such-config\.toml/);
});

test("package.json's bin is an executable file with a shebang that runs the command line", async () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
    version: string;
  };
  const bin = join(repoRoot(), pkg.bin.metabroker!);
  accessSync(bin, constants.X_OK);
  assert.ok(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n'));
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  assert.deepEqual([r.status, r.stdout], [0, `${pkg.version}\n`], r.stderr);
});

test('several brokers: after a URL fails, the one that answered takes the rest of the command', async () => {
  const broker = await startBroker();
  // A first URL that accepts connections and drops them at once: each attempt on it is counted.
  let attempts = 0;
  const dropper = createServer((socket) => {
    attempts += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => dropper.listen(0, '127.0.0.1', resolve));
  try {
    const clusters = {
      c1: [['127.0.0.1:7001', '127.0.0.2:7001']],
      c2: [['127.0.0.1:7002', '127.0.0.3:7001']],
      c3: [['127.0.0.2:7002', '127.0.0.3:7002']],
    } as const;
    await loadDocument(broker, smallFleet({ clusters }));
    const first = `http://127.0.0.1:${(dropper.address() as AddressInfo).port}`;
    // clusters ls reads the names first, then the three metas: only that first read tries the dropping URL.
    const r = await cli(['--broker', `${first},${broker.origin}`, 'clusters', 'ls']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^c3 /m);
    assert.equal(attempts, 1);
  } finally {
    await new Promise<void>((resolve) => dropper.close(() => resolve()));
    await broker.kill();
  }
});
