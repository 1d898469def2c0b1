/**
 * The metadata file (docs/operations.md#durability): the stored document as JSON, replaced
 * atomically. Synchronous on purpose: it runs on the owner thread, which must
 * not take the next command before the previous change is on disk.
 */
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { META_VERSION } from './domain/constants.js';
import type { MetaDocument } from './domain/types.js';

/** A metadata file could not be written or loaded. The message names the file. */
export class MetaFileError extends Error {
  readonly path: string;
  /** The system error code (ENOSPC, EACCES...) when there is one. */
  readonly code: string | undefined;

  constructor(path: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'MetaFileError';
    this.path = path;
    this.code = errorCode(cause);
  }
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

let tempCounter = 0;

/**
 * Replaces `path` with `json`: writes a temporary file in the same directory,
 * fsyncs it, renames it over `path` and fsyncs the directory so the rename
 * itself survives a power loss. On failure the temporary file is removed, the
 * old file is left as it was, and a MetaFileError is thrown.
 *
 * If only the final directory fsync fails, the new file is already in place
 * but may not survive a crash; this still throws, so the caller treats the
 * change as not made (the next successful write brings the file back in line).
 */
export function writeMetaFileSync(path: string, json: string): void {
  const dir = dirname(path);
  // Unique per process and thread, so concurrent writers never share a temp file.
  const temp = join(dir, `.${basename(path)}.tmp-${process.pid}-${threadId}-${++tempCounter}`);
  let fd: number | undefined;
  try {
    // 'wx': never write through a file or link that happens to have this name.
    fd = openSync(temp, 'wx', 0o644);
    const data = Buffer.from(json, 'utf8');
    let offset = 0;
    while (offset < data.length) offset += writeSync(fd, data, offset, data.length - offset);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temp, path);
  } catch (err) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // the write already failed; that error is the one to report
      }
    }
    try {
      unlinkSync(temp);
    } catch {
      // not created, or already renamed
    }
    throw new MetaFileError(path, `cannot write metadata file ${path}: ${errorMessage(err)}`, err);
  }
  syncDirectory(dir, path);
}

/**
 * Removes the temporary files that processes killed in the middle of a
 * write left next to `path` (each as large as the document: a broker that
 * is killed again and again would pile them up). A file whose process is
 * still alive may be a write in progress and is kept. Best effort: a file
 * that cannot be removed is skipped. Returns the names removed.
 */
export function removeStaleTempFiles(path: string): string[] {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.tmp-`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]);
    // Also this process's own: another thread of it may be writing the same file.
    if (!Number.isSafeInteger(pid) || isAlive(pid)) continue;
    try {
      unlinkSync(join(dir, name));
      removed.push(name);
    } catch {
      // gone already, or not ours to remove
    }
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errorCode(err) === 'EPERM';
  }
}

function syncDirectory(dir: string, path: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (err) {
    // Some file systems cannot fsync a directory; there is nothing more to do there.
    const code = errorCode(err);
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EISDIR') {
      throw new MetaFileError(
        path,
        `wrote metadata file ${path} but cannot sync its directory ${dir}: ${errorMessage(err)}`,
        err,
      );
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The first problem with the document's top level, or null. Nested shapes are the restore's concern. */
function topLevelProblem(doc: Record<string, unknown>): string | null {
  if (!Number.isSafeInteger(doc.global_epoch) || (doc.global_epoch as number) < 0)
    return '"global_epoch" is not a non-negative integer';
  if (!isRecord(doc.clusters)) return '"clusters" is not an object';
  if (!isRecord(doc.all_proxies)) return '"all_proxies" is not an object';
  if (!Array.isArray(doc.failed_proxies) || !doc.failed_proxies.every((a) => typeof a === 'string')) {
    return '"failed_proxies" is not an array of strings';
  }
  if (!isRecord(doc.failures)) return '"failures" is not an object';
  for (const [address, reports] of Object.entries(doc.failures)) {
    if (!isRecord(reports) || !Object.values(reports).every((t) => Number.isSafeInteger(t))) {
      return `"failures" entry "${address}" is not an object of integer report times`;
    }
  }
  return null;
}

/**
 * Reads the metadata file. Returns null when it does not exist (a first
 * start). Throws a MetaFileError naming the file when it cannot be read, is
 * not UTF-8 JSON, has a top level of the wrong shape, or has a version other
 * than META_VERSION: starting empty over a damaged file would lose the fleet's
 * metadata at the next write. Never modifies the file.
 */
export function loadMetaFile(path: string): MetaDocument | null {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return null;
    throw new MetaFileError(path, `cannot read metadata file ${path}: ${errorMessage(err)}`, err);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw new MetaFileError(path, `metadata file ${path} is corrupt (${bytes.length} bytes, not valid UTF-8)`, err);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new MetaFileError(
      path,
      `metadata file ${path} is corrupt (${bytes.length} bytes, not valid JSON: ${errorMessage(err)})`,
      err,
    );
  }
  if (!isRecord(doc)) throw new MetaFileError(path, `metadata file ${path} is corrupt: it does not hold a JSON object`);
  if (doc.version !== META_VERSION) {
    throw new MetaFileError(
      path,
      `metadata file ${path} has version ${JSON.stringify(doc.version) ?? 'undefined'}; this broker reads only "${META_VERSION}"`,
    );
  }
  const problem = topLevelProblem(doc);
  if (problem !== null) throw new MetaFileError(path, `metadata file ${path} is corrupt: ${problem}`);
  return doc as unknown as MetaDocument;
}
