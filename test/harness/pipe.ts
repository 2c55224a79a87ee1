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
  /**
   * An outage of what it forwards to, as clients see it: while down, every open connection is cut and new
   * ones are refused at once; back up, connections work again.
   */
  setDown(down: boolean): void;
  /** Stops listening and ends the open connections (a watch never ends on its own). */
  close(): Promise<void>;
}

/** A server that pipes every connection it accepts to `target`; listen on it yourself. */
export function forwardingServer(target: NetConnectOpts): Forwarder {
  const open = new Set<Socket>();
  let down = false;
  const server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    open.add(client);
    client.once('close', () => open.delete(client));
    pipeTo(client, target);
  });
  const cutAll = () => {
    for (const c of open) c.destroy();
  };
  return {
    server,
    setDown(d) {
      down = d;
      if (d) cutAll();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        cutAll();
      }),
  };
}
