/**
 * File mode: with `auto_update_meta_file`, every change is written to the
 * metadata file (atomically, fsynced) before it is published or answered.
 * Without it, commits are in memory only and the file is written by the
 * periodic timer and at stop.
 */
import { storeToDocument } from '../domain/store.js';
import type { MetaStore } from '../domain/types.js';
import { writeMetaFileSync } from '../persistence.js';
import { StorageError } from './storage.js';
import type { CommitRequest, Storage } from './storage.js';

export interface FileStorageOptions {
  readonly metaFilename: string;
  readonly autoUpdateMetaFile: boolean;
  /** Called after each file write with its duration. */
  readonly onWritten?: (seconds: number) => void;
}

export class FileStorage implements Storage {
  constructor(private readonly options: FileStorageOptions) {}

  writable(): null {
    return null;
  }

  commit(request: CommitRequest): number {
    // Pruning expired reports is not worth a file write; the next change carries it.
    if (this.options.autoUpdateMetaFile && request.kind !== 'pruneFailures') {
      try {
        this.write(request.next);
      } catch (err) {
        throw new StorageError('PERSISTENCE_IO_ERROR', err instanceof Error ? err.message : String(err));
      }
    }
    return 0;
  }

  /** Writes the whole store to the metadata file; throws MetaFileError. */
  write(store: MetaStore): void {
    const started = performance.now();
    writeMetaFileSync(this.options.metaFilename, JSON.stringify(storeToDocument(store)));
    this.options.onWritten?.((performance.now() - started) / 1000);
  }
}
