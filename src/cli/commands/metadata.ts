/**
 * `metabroker metadata backup FILE` and `metabroker metadata restore FILE`.
 * Restore checks the file here with the broker's own code (the request
 * schema, then the version and consistency checks of a restore) before
 * anything is sent, shows what would change, and asks before replacing.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { storeFromValidDocument } from '../../domain/commands/restore.js';
import { BrokerError } from '../../domain/errors.js';
import type { MetaDocument } from '../../domain/types.js';
import { parseAnswer } from '../client.js';
import type { Context } from '../context.js';
import { diffMetadata } from '../diff.js';
import type { KeyChanges, MetadataDiff } from '../diff.js';
import { BrokerRefusal, Declined, UsageError } from '../errors.js';
import { transferProgress } from '../progress.js';
import { keyValues, plural } from '../render.js';

function counts(doc: MetaDocument): string {
  const clusters = plural(Object.keys(doc.clusters).length, 'cluster');
  const proxies = plural(Object.keys(doc.all_proxies).length, 'proxy', 'proxies');
  return `global epoch ${doc.global_epoch}, ${clusters}, ${proxies}`;
}

/** Writes a file so that a crash leaves either the old file or the whole new one. */
function writeFileAtomically(path: string, text: string): void {
  const temp = `${path}.tmp-${process.pid}`;
  const fd = openSync(temp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(temp, path);
}

/**
 * GET /metadata into FILE (`-` for stdout), byte for byte. `-o json` prints
 * `{ file, bytes, global_epoch, clusters, proxies }`.
 */
export async function backup(ctx: Context, file: string): Promise<void> {
  const progress = transferProgress(ctx, 'backup ');
  let text: string;
  try {
    text = await ctx.client.call('GET', '/metadata', undefined, {
      onDownload: (done, total) => progress.update(done, total),
    });
  } finally {
    progress.stop();
  }
  // Parsed before anything is written: a file that is not a document is no backup.
  const doc = parseAnswer<MetaDocument>(text, 'GET /api/v2/metadata');
  if (file === '-') {
    ctx.streams.stdout.write(text);
    return;
  }
  try {
    writeFileAtomically(file, text);
  } catch (err) {
    throw new UsageError(`cannot write ${file}: ${(err as Error).message}`);
  }
  const bytes = Buffer.byteLength(text);
  if (ctx.json) {
    ctx.printJson({
      file,
      bytes,
      global_epoch: doc.global_epoch,
      clusters: Object.keys(doc.clusters).length,
      proxies: Object.keys(doc.all_proxies).length,
    });
    return;
  }
  ctx.print(`backed up the metadata of ${ctx.client.url} to ${file}: ${counts(doc)}, ${bytes} bytes`);
}

/**
 * The file as the broker would take it, or the broker's own refusal. The
 * same functions PUT /metadata runs: parseMetaDocument (schema), then
 * storeFromValidDocument (version, consistency).
 */
export async function checkMetadataFile(file: string): Promise<{ text: string; document: MetaDocument }> {
  // Compiling the broker's schemas takes a fifth of a second: only restore pays for it.
  const { parseMetaDocument } = await import('../../wire/schemas.js');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const context = `checking ${file}`;
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (err) {
    throw new BrokerRefusal('INVALID_REQUEST', null, `malformed JSON: ${(err as Error).message}`, context);
  }
  try {
    const document = parseMetaDocument(value);
    storeFromValidDocument(document, Math.floor(Date.now() / 1000));
    return { text, document };
  } catch (err) {
    if (err instanceof BrokerError) {
      // Only INVALID_REQUEST carries words of its own (the first problem found), as in the broker's answer.
      throw new BrokerRefusal(err.code, null, err.code === 'INVALID_REQUEST' ? err.message : undefined, context);
    }
    throw err;
  }
}

const LISTED = 20;

/** The keys that changed, as rows under their label: `+ added`, `- removed`, `~ changed`; long lists are cut. */
function keyRows(c: Context['colors'], changes: KeyChanges): [string, string][] {
  const rows: [string, string][] = [];
  const list = (sign: string, keys: readonly string[], paint: (s: string) => string) => {
    for (const key of keys.slice(0, LISTED)) rows.push(['', paint(`${sign} ${key}`)]);
    if (keys.length > LISTED) rows.push(['', paint(`${sign} ... and ${keys.length - LISTED} more`)]);
  };
  list('+', changes.added, c.green);
  list('-', changes.removed, c.red);
  list('~', changes.changed, c.yellow);
  return rows;
}

function changeCount(changes: KeyChanges): string {
  return `${changes.added.length} added, ${changes.removed.length} removed, ${changes.changed.length} changed`;
}

export function renderDiff(ctx: Context, file: string, diff: MetadataDiff): string {
  const c = ctx.colors;
  const arrow = (a: number, b: number) => (a === b ? `${a} (unchanged)` : `${a} -> ${b}`);
  const head = `restore ${file} onto ${ctx.client.url}`;
  if (diff.identical) return `${head}\nthe broker already holds exactly this metadata`;
  const rows: [string, string][] = [
    ['global epoch', arrow(diff.global_epoch.before, diff.global_epoch.after)],
    ['clusters', changeCount(diff.clusters)],
    ...keyRows(c, diff.clusters),
    ['proxies', changeCount(diff.proxies)],
    ...keyRows(c, diff.proxies),
    ['failed proxies', arrow(diff.failed_proxies.before, diff.failed_proxies.after)],
    ['reported', arrow(diff.reported.before, diff.reported.after)],
  ];
  const lines = [head, keyValues(c, rows)];
  if (diff.global_epoch.after < diff.global_epoch.before) {
    // Proxies refuse metadata older than what they hold; the operator should move the epoch on afterwards.
    lines.push(
      c.yellow(
        `warning: the global epoch goes back; proxies that saw ${diff.global_epoch.before} may ignore the restored ` +
          `metadata until \`metabroker epoch bump\` sets an epoch above ${diff.global_epoch.before}`,
      ),
    );
  }
  return lines.join('\n');
}

/** One line from a terminal; anything but y/yes (or end of input) is no. */
async function confirm(ctx: Context, question: string): Promise<boolean> {
  const rl = createInterface({ input: ctx.streams.stdin, output: ctx.streams.stderr, terminal: false });
  try {
    const answer = await new Promise<string>((resolve) => {
      rl.once('close', () => resolve(''));
      rl.question(question, resolve);
    });
    return /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    rl.close();
  }
}

/**
 * Checks FILE, shows the change against GET /metadata, asks (on a
 * terminal, unless --yes), then PUT /metadata with the file's bytes.
 * `-o json` prints `{ file, broker, diff, applied }`.
 */
export async function restore(ctx: Context, file: string, yes: boolean): Promise<void> {
  const { text, document } = await checkMetadataFile(file);
  const download = transferProgress(ctx, 'reading current metadata');
  let current: MetaDocument;
  try {
    current = await ctx.client.get<MetaDocument>('/metadata', { onDownload: (d, t) => download.update(d, t) });
  } finally {
    download.stop();
  }
  const diff = diffMetadata(current, document);
  const report = (applied: boolean) => {
    if (ctx.json) ctx.printJson({ file, broker: ctx.client.url, diff, applied });
  };
  if (!ctx.json) ctx.print(renderDiff(ctx, file, diff));
  if (diff.identical) return report(false);

  if (!yes) {
    if (ctx.streams.stdin.isTTY !== true) {
      throw new UsageError('restore replaces all of the metadata: confirm on a terminal, or pass --yes');
    }
    if (!(await confirm(ctx, `Replace the metadata of ${ctx.client.url} with ${file}? [y/N] `))) {
      throw new Declined('restore cancelled; nothing was changed');
    }
  }
  const upload = transferProgress(ctx, 'restore');
  try {
    await ctx.client.call('PUT', '/metadata', text, { onUpload: (d, t) => upload.update(d, t) });
  } finally {
    upload.stop();
  }
  if (ctx.json) return report(true);
  ctx.print(`restored: the broker now holds ${counts(document)}`);
}
