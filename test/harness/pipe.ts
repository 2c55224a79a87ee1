/**
 * Byte pipes between sockets, for the forwarders that join the host's loopback and the test namespaces'
 * (over Unix sockets, which cross network namespaces).
 */
import { connect, createServer, type NetConnectOpts, type Server, type Socket } from 'node:net';

/** Joins `client` to a new connection to `target`; when either side ends or fails, both close. */
export function pipeTo(client: Socket, target: NetConnectOpts): Socket {
  const upstream = connect(target);
  client.pipe(upstream).pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  return upstream;
}

export interface Forwarder {
  server: Server;
  /** Stops listening and ends the open connections (a watch never ends on its own). */
  close(): Promise<void>;
}

/** A server that pipes every connection it accepts to `target`; listen on it yourself. */
export function forwardingServer(target: NetConnectOpts): Forwarder {
  const open = new Set<Socket>();
  const server = createServer((client) => {
    open.add(client);
    client.once('close', () => open.delete(client));
    pipeTo(client, target);
  });
  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const c of open) c.destroy();
      }),
  };
}
