/** `metabroker epoch show|bump N|recover`. */
import type { Context } from '../context.js';
import { readMetadata } from '../fleet.js';
import { listOf } from '../render.js';

/** The global epoch from GET /metadata; `-o json` prints `{"global_epoch": N}`. */
export async function showEpoch(ctx: Context): Promise<void> {
  const epoch = (await readMetadata(ctx.client)).global_epoch;
  if (ctx.json) return ctx.printJson({ global_epoch: epoch });
  ctx.print(`global epoch ${epoch}`);
}

/** PUT /epoch/N: every epoch moves to N, which must be above the current one. */
export async function bumpEpoch(ctx: Context, epoch: number): Promise<void> {
  const answer = await ctx.client.call('PUT', `/epoch/${epoch}`);
  if (ctx.json) return ctx.printBody(answer);
  ctx.print(`global epoch set to ${epoch}`);
}

/** PUT /epoch/recovery: asks every proxy for its epoch and moves past the largest. */
export async function recoverEpoch(ctx: Context): Promise<void> {
  const answer = await ctx.client.callJson<{ failed_addresses: string[] }>('PUT', '/epoch/recovery');
  if (ctx.json) return ctx.printBody(answer.text);
  const failed = answer.value.failed_addresses;
  const epoch = (await readMetadata(ctx.client)).global_epoch;
  const missing = failed.length === 0 ? 'every proxy answered' : `${failed.length} did not answer: ${listOf(failed)}`;
  ctx.print(`epoch recovered: global epoch now ${epoch}; ${missing}`);
}
