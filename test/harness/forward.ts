// Runs inside a test namespace and carries each connection accepted on LISTEN to TARGET. Each is
// tcp:HOST:PORT or unix:PATH; a Unix socket lives on the shared filesystem and so crosses network
// namespaces, which is how the harness joins the host's loopback and a namespace's without an interface.
// Usage: node forward.ts LISTEN TARGET
import { rmSync } from 'node:fs';
import type { NetConnectOpts } from 'node:net';
import { forwardingServer } from './pipe.ts';

type Endpoint = { host: string; port: number } | { path: string };

function endpoint(spec: string | undefined): Endpoint | undefined {
  const tcp = /^tcp:(.+):(\d+)$/.exec(spec ?? '');
  if (tcp) return { host: tcp[1]!, port: Number(tcp[2]) };
  const unix = /^unix:(.+)$/.exec(spec ?? '');
  return unix ? { path: unix[1]! } : undefined;
}

const [listen, target] = process.argv.slice(2).map(endpoint);
if (!listen || !target) {
  process.stderr.write('usage: forward.ts tcp:HOST:PORT|unix:PATH tcp:HOST:PORT|unix:PATH\n');
  process.exit(2);
}
const { server } = forwardingServer(target as NetConnectOpts);
const ready = () => process.stdout.write(`listening ${process.argv[2]}\n`);
if ('path' in listen) {
  rmSync(listen.path, { force: true });
  server.listen(listen.path, ready);
} else {
  server.listen(listen.port, listen.host, ready);
}
