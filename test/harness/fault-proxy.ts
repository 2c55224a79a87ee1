/**
 * A fault-injecting HTTPS proxy between a component and the harness's real API server. It presents the API
 * server's own certificate (valid for 127.0.0.1), so a component reaches it through an ordinary kubeconfig
 * that differs only in the port, and forwards every request unchanged unless a rule matches: then it can
 * delay the request or the answer, answer itself (429 with Retry-After, 500, 410 ...), drop the connection,
 * put a garbage line into a watch, stall a watch (headers sent, then silence: a half-open connection as the
 * client sees it), or end a watch with the "410 Gone" ERROR event a server sends for a too old
 * resourceVersion. `outage()` makes the API server unreachable for a while, as a restart does; the harness's
 * `ApiServer.restart()` restarts the real one.
 *
 * Every request is recorded (method, path, query, status, fault), so tests count what a component sent
 * instead of timing it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent, createServer, request, type Server } from 'node:https';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ClusterAccess, parseKubeconfig } from '../../src/k8s/kubeconfig.ts';
import { type ApiServer, freePort } from './apiserver.ts';

export type Fault =
  /** Holds the request `requestMs` before forwarding it, and each part of the answer `responseMs`. */
  | { kind: 'delay'; requestMs?: number; responseMs?: number }
  /** Answers itself with this status and a Kubernetes Status body; nothing reaches the API server. */
  | { kind: 'status'; status: number; reason?: string; message?: string; retryAfterSeconds?: number }
  /** Reads the request, then closes the connection without an answer. */
  | { kind: 'drop' }
  /** Forwards a watch and writes `line` (not JSON) into it after `afterMs`, then goes on relaying. */
  | { kind: 'garbage'; line?: string; afterMs?: number }
  /** Forwards the request and relays the answer's headers, then nothing more, keeping the connection. */
  | { kind: 'stall' }
  /** Answers a watch as a server does for a too old resourceVersion: one ERROR event (410), then the end. */
  | { kind: 'watchGone' };

export interface FaultRule {
  method?: string;
  /** Matched against the path (without the query). */
  path?: RegExp;
  /** true: only watch requests; false: only others; undefined: both. */
  watch?: boolean;
  query?: (q: URLSearchParams) => boolean;
  fault: Fault;
  /** How many matching requests it applies to (default: all, until removed). */
  times?: number;
}

export interface RecordedRequest {
  at: number;
  method: string;
  path: string;
  query: URLSearchParams;
  watch: boolean;
  /** The status the client got, once known (undefined when dropped or still streaming headers). */
  status?: number;
  fault?: Fault['kind'];
}

export interface FaultProxy {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  /** The API server's kubeconfig, pointed at the proxy. */
  readonly kubeconfigPath: string;
  readonly access: ClusterAccess;
  readonly requests: RecordedRequest[];
  /** Adds a rule (checked in the order added); returns a function that removes it. */
  add(rule: FaultRule): () => void;
  clear(): void;
  /** How many recorded requests match. */
  count(match: (r: RecordedRequest) => boolean): number;
  /** Closes every open connection at once (watches included), as a network blip does. */
  dropConnections(): void;
  /** Refuses connections and closes open ones for `ms`, as an API server restart looks from outside. */
  outage(ms: number): Promise<void>;
  stop(): Promise<void>;
}

interface ActiveRule extends FaultRule {
  used: number;
}

function isWatch(q: URLSearchParams): boolean {
  const w = q.get('watch');
  return w === '1' || w === 'true';
}

function statusBody(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code });
}

export async function startFaultProxy(api: ApiServer): Promise<FaultProxy> {
  const port = await freePort();
  const upstream = new URL(api.url);
  const ca = readFileSync(api.servingCertPath);
  const agent = new Agent({ keepAlive: true, ca, maxSockets: 256 });
  const rules: ActiveRule[] = [];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const pending = new Set<{ destroy(): void }>();

  const pick = (method: string, path: string, q: URLSearchParams): Fault | undefined => {
    for (const r of rules) {
      if (r.method && r.method !== method) continue;
      if (r.path && !r.path.test(path)) continue;
      if (r.watch !== undefined && r.watch !== isWatch(q)) continue;
      if (r.query && !r.query(q)) continue;
      if (r.times !== undefined && r.used >= r.times) continue;
      r.used++;
      return r.fault;
    }
    return undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', api.url);
    const method = req.method ?? 'GET';
    const record: RecordedRequest = {
      at: Date.now(),
      method,
      path: url.pathname,
      query: url.searchParams,
      watch: isWatch(url.searchParams),
    };
    requests.push(record);
    const fault = pick(method, url.pathname, url.searchParams);
    if (fault) record.fault = fault.kind;
    const body: Buffer[] = [];
    for await (const chunk of req) body.push(chunk as Buffer);
    if (fault?.kind === 'drop') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'status') {
      record.status = fault.status;
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (fault.retryAfterSeconds !== undefined) headers['retry-after'] = String(fault.retryAfterSeconds);
      res.writeHead(fault.status, headers);
      res.end(
        statusBody(
          fault.status,
          fault.reason ?? 'InternalError',
          fault.message ?? `injected by the fault proxy: HTTP ${fault.status}`,
        ),
      );
      return;
    }
    if (fault?.kind === 'watchGone') {
      record.status = 200;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        `${JSON.stringify({
          type: 'ERROR',
          object: {
            kind: 'Status',
            apiVersion: 'v1',
            status: 'Failure',
            message: 'too old resource version (injected by the fault proxy)',
            reason: 'Expired',
            code: 410,
          },
        })}\n`,
      );
      return;
    }
    // A held request is forwarded even when its client gave up meanwhile: on a real network the bytes
    // already sent still arrive, and the API server acts on them.
    if (fault?.kind === 'delay' && fault.requestMs) await sleep(fault.requestMs);
    const responseMs = fault?.kind === 'delay' ? (fault.responseMs ?? 0) : 0;
    const headers = { ...req.headers, host: upstream.host };
    const up = request(
      { host: upstream.hostname, port: upstream.port, path: req.url, method, headers, agent },
      (upRes) => {
        record.status = upRes.statusCode;
        // Parts of the answer keep their order however long each is held.
        let chain = Promise.resolve();
        const later = (f: () => void) => {
          chain = chain.then(async () => {
            if (responseMs) await sleep(responseMs);
            if (!res.destroyed) f();
          });
        };
        later(() => res.writeHead(upRes.statusCode ?? 502, upRes.headers));
        if (fault?.kind === 'stall') {
          // Headers, then silence: the API server goes on sending, the client never hears it.
          later(() => res.flushHeaders());
          upRes.resume();
          return;
        }
        if (fault?.kind === 'garbage') {
          setTimeout(
            () => later(() => res.write(`${fault.line ?? 'this line is not JSON'}\n`)),
            fault.afterMs ?? 0,
          );
        }
        upRes.on('data', (chunk: Buffer) => later(() => res.write(chunk)));
        upRes.on('end', () => later(() => res.end()));
        upRes.on('error', () => later(() => res.destroy()));
      },
    );
    pending.add(up);
    up.on('close', () => pending.delete(up));
    up.on('error', () => res.destroy());
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    up.end(Buffer.concat(body));
  };

  const tls = { cert: readFileSync(api.servingCertPath), key: readFileSync(api.servingKeyPath) };
  let server: Server | undefined;
  const listen = async () => {
    const s = createServer(tls, (req, res) => {
      handle(req, res).catch(() => res.destroy());
    });
    s.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    s.on('tlsClientError', () => {});
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    server = s;
  };
  const close = async () => {
    const s = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    for (const p of pending) p.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await listen();

  const url = `https://127.0.0.1:${port}`;
  const kubeconfigPath = join(dirname(api.kubeconfigPath), `kubeconfig-proxy-${port}`);
  writeFileSync(kubeconfigPath, readFileSync(api.kubeconfigPath, 'utf8').replace(api.url, url), {
    mode: 0o600,
  });
  const access = parseKubeconfig(readFileSync(kubeconfigPath, 'utf8'), kubeconfigPath);
  let stopped = false;
  return {
    url,
    kubeconfigPath,
    access,
    requests,
    add(rule) {
      const active: ActiveRule = { ...rule, used: 0 };
      rules.push(active);
      return () => {
        const i = rules.indexOf(active);
        if (i >= 0) rules.splice(i, 1);
      };
    },
    clear() {
      rules.length = 0;
    },
    count(match) {
      return requests.filter(match).length;
    },
    dropConnections() {
      for (const socket of sockets) socket.destroy();
      for (const p of pending) p.destroy();
    },
    async outage(ms) {
      await close();
      await sleep(ms);
      if (!stopped) await listen();
    },
    async stop() {
      stopped = true;
      rules.length = 0;
      await close();
      agent.destroy();
    },
  };
}
