/**
 * `metabroker migrations ls`: every migration in flight, read from the
 * Migrating tags of the cluster views (what coordinators are told to run;
 * the broker's migration_limit bounds how many each view shows).
 * `-o json` prints an array of { cluster, range_list, epoch, src_proxy_address,
 * src_node_address, dst_proxy_address, dst_node_address }.
 */
import type { Context } from '../context.js';
import { migrationsOf, readClusterViews } from '../fleet.js';
import { countSlots, formatRanges, table } from '../render.js';

export async function listMigrations(ctx: Context): Promise<void> {
  const migrations = (await readClusterViews(ctx.client)).flatMap(migrationsOf);
  if (ctx.json) return ctx.printJson(migrations);
  if (migrations.length === 0) {
    ctx.print('no migration in flight');
    return;
  }
  const head = ['CLUSTER', 'SLOTS', 'SOURCE', 'DESTINATION', 'EPOCH'];
  const rows = migrations.map((m) => {
    const row = [m.cluster, formatRanges(m.range_list), m.src_proxy_address, m.dst_proxy_address, String(m.epoch)];
    return ctx.wide ? [...row, String(countSlots(m.range_list)), m.src_node_address, m.dst_node_address] : row;
  });
  const align = ['left', 'left', 'left', 'left', 'right', 'right'] as const;
  ctx.print(table(ctx.colors, ctx.wide ? [...head, 'COUNT', 'SOURCE NODE', 'DESTINATION NODE'] : head, rows, align));
}
