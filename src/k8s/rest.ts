/**
 * A thin client for the Kubernetes REST API on node:https with a keep-alive agent. Beacon talks to a few
 * resources in a few ways (list, watch, get, create, patch, update status), and the generated client's
 * per-call overhead and error shapes cost more than they give for that.
 */
import { request as httpRequest } from 'node:http';
import { Agent, type RequestOptions, request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
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
  /** The whole call, retries after 429 included, ends with an error after this long (default 30 s). */
  timeoutMs?: number;
}

export interface KubeRestOptions {
  /** Sent as User-Agent, so that API server metrics tell Beacon's components apart. */
  userAgent: string;
  /**
   * How many times one call is sent again when the server says to come back later (429, or any answer
   * with Retry-After), as client-go does; default 5. The wait is what Retry-After says, at most 10 s.
   */
  maxRetries?: number;
}

const MAX_RETRY_AFTER_S = 10;
/** One watch event is one object; etcd refuses objects over 1.5 MB, so a longer line is a broken stream. */
const MAX_WATCH_LINE = 16 * 1024 * 1024;

/** Seconds to wait from a Retry-After header (delta-seconds only, as the API server sends), or undefined. */
function retryAfterSeconds(header: string | string[] | undefined): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (v === undefined || !/^\d+$/.test(v.trim())) return undefined;
  return Math.min(Number(v.trim()), MAX_RETRY_AFTER_S);
}

interface RawAnswer {
  status: number;
  text: string;
  retryAfter: number | undefined;
}

/** The error for a non-2xx answer, with the reason and message of its Status body when it has one. */
function apiError(method: string, url: URL, status: number, text: string, fallback = 'Unknown'): ApiError {
  let reason = fallback;
  let message = `${method} ${url.pathname}: HTTP ${status}`;
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string };
    reason = s.reason || reason;
    if (s.message) message = `${method} ${url.pathname}: ${s.message}`;
  } catch {
    if (text) message += `: ${text.slice(0, 200)}`;
  }
  return new ApiError(status, reason, message);
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
  private readonly maxRetries: number;
  /** Whether the last request that ended did not reach the API server at all (refused, reset, timed out). */
  private unreachable = false;
  private readonly reachableAgain = new Set<() => void>();

  constructor(access: ClusterAccess, opts: KubeRestOptions) {
    this.access = access;
    this.userAgent = opts.userAgent;
    this.maxRetries = opts.maxRetries ?? 5;
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

  /**
   * Calls `fn` each time the API server answers again after a request could not reach it: whoever waits
   * out a retry backoff (informers) may try at once instead of minutes of doubled delays later. Returns
   * the unsubscribe function.
   */
  onReachableAgain(fn: () => void): () => void {
    this.reachableAgain.add(fn);
    return () => this.reachableAgain.delete(fn);
  }

  /** An HTTP answer came (any status below 500: a 5xx may come from a proxy with no server behind it). */
  private answered(status: number): void {
    if (!this.unreachable || status >= 500) return;
    this.unreachable = false;
    for (const fn of [...this.reachableAgain]) fn();
  }

  /** A request ended without any answer; one the caller gave up on itself says nothing of the server. */
  private unanswered(callerAborted: boolean): void {
    if (!callerAborted) this.unreachable = true;
  }

  private headers(): Record<string, string> {
    const h: Record<string, string> = { 'user-agent': this.userAgent, accept: 'application/json' };
    const token = this.access.token?.();
    if (token) h.authorization = `Bearer ${token}`;
    return h;
  }

  /**
   * Sends one request; resolves with the decoded JSON body, throws ApiError for a non-2xx answer. A 429
   * (or any answer with Retry-After) is sent again after the wait the server asks for, a few times.
   */
  async request<T>(method: string, path: string, init: RequestInit = {}): Promise<T> {
    const deadline = AbortSignal.timeout(init.timeoutMs ?? 30_000);
    const signal = init.signal ? AbortSignal.any([init.signal, deadline]) : deadline;
    const url = new URL(withQuery(path, init.query), this.base);
    for (let attempt = 0; ; attempt++) {
      const answer = await this.raw(method, url, init, signal);
      if (answer.status >= 200 && answer.status < 300) {
        if (!answer.text) return undefined as T;
        try {
          return JSON.parse(answer.text) as T;
        } catch {
          throw new ApiError(
            answer.status,
            'MalformedAnswer',
            `${method} ${url.pathname}: the answer is not JSON: ${answer.text.slice(0, 200)}`,
          );
        }
      }
      const comeBack = answer.status === 429 || answer.retryAfter !== undefined;
      if (!comeBack || attempt >= this.maxRetries) throw apiError(method, url, answer.status, answer.text);
      await sleep((answer.retryAfter ?? 1) * 1000, undefined, { signal });
    }
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

  private raw(method: string, url: URL, init: RequestInit, signal: AbortSignal): Promise<RawAnswer> {
    const payload = init.body === undefined ? undefined : JSON.stringify(init.body);
    const headers = this.headers();
    if (payload !== undefined) {
      headers['content-type'] = init.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const send = url.protocol === 'https:' ? request : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { ...this.options, method, headers, signal }, (res) => {
        this.answered(res.statusCode ?? 0);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            text: Buffer.concat(chunks).toString('utf8'),
            retryAfter: retryAfterSeconds(res.headers['retry-after']),
          }),
        );
      });
      req.on('error', (err) => {
        this.unanswered(init.signal?.aborted ?? false);
        reject(
          signal.aborted && !init.signal?.aborted
            ? new Error(`${method} ${url.pathname}: no answer within ${init.timeoutMs ?? 30_000} ms`)
            : err,
        );
      });
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
    /** Called once the server accepted the watch (a 2xx answer), before any line. */
    onOpen?: () => void,
  ): Promise<void> {
    const url = new URL(withQuery(path, query), this.base);
    const send = url.protocol === 'https:' ? request : httpRequest;
    /** This side ended the watch over a line it could not take: nothing is known of the server. */
    let refused = false;
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
          this.answered(status);
          if (status < 200 || status >= 300) {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              reject(apiError('GET', url, status, Buffer.concat(chunks).toString('utf8'), 'WatchFailed')),
            );
            res.on('error', reject);
            return;
          }
          onOpen?.();
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buf += chunk;
            let nl = buf.indexOf('\n');
            try {
              while (nl >= 0) {
                const line = buf.slice(0, nl);
                buf = buf.slice(nl + 1);
                if (line.trim()) onLine(line);
                nl = buf.indexOf('\n');
              }
              if (buf.length > MAX_WATCH_LINE)
                throw new Error(`watch ${url.pathname}: a line longer than ${MAX_WATCH_LINE} characters`);
            } catch (err) {
              // Whatever onLine cannot take ends this watch (the caller decides what next), never the process.
              refused = true;
              req.destroy(err as Error);
            }
          });
          res.on('end', () => resolve());
          // The server went away in the middle of the watch (a restart, a cut link).
          const cut = (err: Error) => {
            this.unanswered(signal.aborted || refused);
            reject(err);
          };
          res.on('error', cut);
          res.on('aborted', () => cut(new Error(`watch ${url.pathname}: aborted`)));
        },
      );
      req.on('error', (err) => {
        this.unanswered(signal.aborted || refused);
        reject(err);
      });
      req.end();
    });
  }
}
