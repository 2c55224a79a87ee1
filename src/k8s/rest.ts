/**
 * A thin client for the Kubernetes REST API on node:https with a keep-alive agent. Beacon talks to a few
 * resources in a few ways (list, watch, get, create, patch, update status), and the generated client's
 * per-call overhead and error shapes cost more than they give for that.
 */
import { request as httpRequest } from 'node:http';
import { Agent, type RequestOptions, request } from 'node:https';
import type { ClusterAccess } from './kubeconfig.ts';

export class ApiError extends Error {
  readonly status: number;
  /** The Status object's `reason`, e.g. NotFound, Conflict, AlreadyExists, Forbidden, Invalid, Expired. */
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.reason = reason;
  }
}

export type PatchType = 'merge' | 'strategic' | 'json' | 'apply';

const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
};

export interface RequestInit {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface KubeRestOptions {
  /** Sent as User-Agent, so that API server metrics tell Beacon's components apart. */
  userAgent: string;
}

function withQuery(path: string, query: RequestInit['query']): string {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export class KubeRest {
  private readonly base: URL;
  private readonly options: RequestOptions;
  private readonly access: ClusterAccess;
  private readonly userAgent: string;

  constructor(access: ClusterAccess, opts: KubeRestOptions) {
    this.access = access;
    this.userAgent = opts.userAgent;
    this.base = new URL(access.server);
    this.options =
      this.base.protocol === 'https:'
        ? {
            agent: new Agent({
              keepAlive: true,
              maxSockets: 64,
              ...(access.ca ? { ca: access.ca } : {}),
              ...(access.cert ? { cert: access.cert } : {}),
              ...(access.key ? { key: access.key } : {}),
              rejectUnauthorized: !access.insecureSkipTLSVerify,
            }),
          }
        : {};
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = { 'user-agent': this.userAgent, accept: 'application/json' };
    const token = this.access.token?.();
    if (token) h.authorization = `Bearer ${token}`;
    return h;
  }

  /** Sends one request; resolves with the decoded JSON body, throws ApiError for a non-2xx answer. */
  async request<T>(method: string, path: string, init: RequestInit = {}): Promise<T> {
    const text = await this.raw(method, path, init);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T>(path: string, init?: RequestInit): Promise<T> {
    return this.request<T>('GET', path, init);
  }

  create<T>(path: string, body: unknown, init: RequestInit = {}): Promise<T> {
    return this.request<T>('POST', path, { ...init, body });
  }

  replace<T>(path: string, body: unknown, init: RequestInit = {}): Promise<T> {
    return this.request<T>('PUT', path, { ...init, body });
  }

  patch<T>(path: string, type: PatchType, body: unknown, init: RequestInit = {}): Promise<T> {
    return this.request<T>('PATCH', path, { ...init, body, contentType: PATCH_CONTENT_TYPE[type] });
  }

  delete<T>(path: string, init?: RequestInit): Promise<T> {
    return this.request<T>('DELETE', path, init);
  }

  private raw(method: string, path: string, init: RequestInit): Promise<string> {
    const url = new URL(withQuery(path, init.query), this.base);
    const payload = init.body === undefined ? undefined : JSON.stringify(init.body);
    const headers = this.headers();
    if (payload !== undefined) {
      headers['content-type'] = init.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const send = url.protocol === 'https:' ? request : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        url,
        { ...this.options, method, headers, signal: init.signal, timeout: init.timeoutMs ?? 30_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve(text);
            let reason = 'Unknown';
            let message = `${method} ${url.pathname}: HTTP ${status}`;
            try {
              const s = JSON.parse(text) as { reason?: string; message?: string };
              reason = s.reason ?? reason;
              if (s.message) message = `${method} ${url.pathname}: ${s.message}`;
            } catch {
              if (text) message += `: ${text.slice(0, 200)}`;
            }
            reject(new ApiError(status, reason, message));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname}: timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /**
   * Opens a streaming GET (a watch) and calls `onLine` for each newline-terminated JSON line. Resolves when
   * the server closes the stream, rejects on a transport error or a non-2xx answer.
   */
  stream(
    path: string,
    query: RequestInit['query'],
    onLine: (line: string) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const url = new URL(withQuery(path, query), this.base);
    const send = url.protocol === 'https:' ? request : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        url,
        {
          ...this.options,
          method: 'GET',
          headers: this.headers(),
          signal,
        },
        (res) => {
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) {
            res.resume();
            reject(new ApiError(status, 'WatchFailed', `watch ${url.pathname}: HTTP ${status}`));
            return;
          }
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buf += chunk;
            let nl = buf.indexOf('\n');
            while (nl >= 0) {
              const line = buf.slice(0, nl);
              buf = buf.slice(nl + 1);
              if (line.trim()) onLine(line);
              nl = buf.indexOf('\n');
            }
          });
          res.on('end', () => resolve());
          res.on('error', reject);
          res.on('aborted', () => reject(new Error(`watch ${url.pathname}: aborted`)));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }
}
