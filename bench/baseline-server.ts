/**
 * The ceiling: a bare uWebSockets.js server with no broker logic. In
 * `fixed` mode it answers every GET with one body of a given size; in
 * `replay` mode it answers each path with the body recorded for it.
 * Run as a child process so that it competes for the CPU like the broker.
 *
 *   node baseline-server.js fixed <bytes>
 *   node baseline-server.js replay <file.json>   (a JSON object path -> body)
 */
import { readFileSync } from 'node:fs';
import uWS from '@trufflesuite/uws-js-unofficial';

const [mode, arg] = process.argv.slice(2);
const app = uWS.App();
// Bodies are encoded once, and written in the handler's synchronous part,
// where uWS is already corked: the least a server can do per request.
if (mode === 'fixed') {
  const body = Buffer.from(JSON.stringify({ filler: 'x'.repeat(Math.max(0, Number(arg) - 13)) }));
  app.get('/*', (res) => {
    res.writeHeader('Content-Type', 'application/json').end(body);
  });
} else if (mode === 'replay') {
  const recorded = Object.entries(JSON.parse(readFileSync(arg!, 'utf8')) as Record<string, string>);
  const bodies = new Map(recorded.map(([path, body]) => [path, Buffer.from(body)]));
  const empty = Buffer.from('{}');
  app.get('/*', (res, req) => {
    const url = req.getUrl();
    const query = req.getQuery();
    const body = bodies.get(query ? `${url}?${query}` : url) ?? empty;
    res.writeHeader('Content-Type', 'application/json').end(body);
  });
} else {
  console.error('usage: baseline-server fixed <bytes> | replay <file>');
  process.exit(2);
}
app.listen('127.0.0.1', 0, (socket) => {
  if (!socket) {
    console.error('listen failed');
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify({ port: uWS.us_socket_local_port(socket) })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
