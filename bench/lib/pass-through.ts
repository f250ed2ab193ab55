// The floor of any Node proxy, as a script (`node dist/bench/lib/pass-through.js`): one upstream
// connection per client connection and the bytes forwarded as they come, no HTTP parsing at all.
// What Node itself costs to move a request and its response through one process; the
// instructions bench measures the router against it. Env: PORT, UPSTREAM_PORT (127.0.0.1 both).
import { connect, createServer } from 'node:net';
import process from 'node:process';

const upstreamPort = Number(process.env.UPSTREAM_PORT);
const server = createServer({ noDelay: true }, (client) => {
  const upstream = connect({ port: upstreamPort, host: '127.0.0.1', noDelay: true });
  client.on('data', (d: Buffer) => upstream.write(d));
  upstream.on('data', (d: Buffer) => client.write(d));
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  client.on('error', () => undefined);
  upstream.on('error', () => undefined);
});
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
