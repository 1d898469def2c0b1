/** The bodies of successful writes (reads are answered by queries.ts). */
import type { CommandValue } from '../domain/commands.js';

/** The body of a successful write: empty, the nodes added, or `{"proxy": ...}`. */
export function commandBody(kind: string, value: CommandValue): string {
  if (kind === 'failover') return JSON.stringify({ proxy: value });
  if (kind === 'addNodes' || kind === 'scaleNodes') return JSON.stringify(value);
  return '';
}
