/**
 * The kernel routing table of a namespace as a stream of timed events (`ip -ts -o monitor route`): when a
 * router such as FRR installs, changes or removes a route, and with how many next hops. The time of each
 * event is the one `ip` stamps when it reads the netlink message, so a busy test process does not skew it.
 */
import { createInterface } from 'node:readline';
import type { Netns } from './netns.ts';
import type { TetheredProcess } from './process.ts';

export interface RouteEvent {
  /** Milliseconds since the epoch, with the microseconds `ip` printed as the fraction. */
  at: number;
  /** As `ip` prints it: an address alone for a host route (`198.51.100.7`), else `prefix/length`. */
  prefix: string;
  deleted: boolean;
  /** Next hops of the route (one for a plain `via`, one per `nexthop via` line for a multipath route). */
  nextHops: string[];
}

const ROUTE_TYPES = new Set([
  'unicast',
  'local',
  'broadcast',
  'multicast',
  'anycast',
  'unreachable',
  'blackhole',
  'prohibit',
  'throw',
  'nat',
]);

/**
 * One line of `ip -ts -o monitor route`, e.g.
 * `[2026-12-06T17:06:49.865943] Deleted 198.18.0.1 \	nexthop via 192.0.2.11 dev d0 weight 1 \	...`.
 * Undefined for lines that are not a route (local routes, other tables' noise is kept: the caller filters).
 */
export function parseRouteLine(line: string): RouteEvent | undefined {
  const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?\]\s+(.*)$/.exec(line.trim());
  if (!m) return undefined;
  // Local time without a zone, as `ip` prints it; Date reads such a string as local time too.
  const seconds = new Date(`${m[1]}`).getTime();
  if (Number.isNaN(seconds)) return undefined;
  const at = seconds + (m[2] ? Number(`0.${m[2]}`) * 1000 : 0);
  let words = m[3]!.split(/\s+/).filter(Boolean);
  const deleted = words[0] === 'Deleted';
  if (deleted) words = words.slice(1);
  if (words[0] && ROUTE_TYPES.has(words[0])) {
    if (words[0] !== 'unicast') return undefined;
    words = words.slice(1);
  }
  const prefix = words[0];
  if (!prefix || !/^[0-9a-f.:]+(\/\d+)?$/i.test(prefix) || !/[.:]/.test(prefix)) return undefined;
  const nextHops: string[] = [];
  for (let i = 1; i < words.length - 1; i++) if (words[i] === 'via') nextHops.push(words[i + 1]!);
  return { at, prefix, deleted, nextHops };
}

type Waiter = {
  prefix: string | undefined;
  test: (e: RouteEvent) => boolean;
  resolve: (e: RouteEvent) => void;
};

export class RouteMonitor {
  readonly proc: TetheredProcess;
  /** Every event seen, in order. */
  readonly events: RouteEvent[] = [];
  private readonly waiters = new Set<Waiter>();
  private readonly current = new Map<string, RouteEvent>();

  private constructor(proc: TetheredProcess) {
    this.proc = proc;
    const lines = createInterface({ input: proc.child.stdout! });
    lines.on('line', (line) => {
      const e = parseRouteLine(line);
      if (!e) return;
      this.events.push(e);
      if (e.deleted) this.current.delete(e.prefix);
      else this.current.set(e.prefix, e);
      for (const w of this.waiters)
        if ((w.prefix === undefined || w.prefix === e.prefix) && w.test(e)) {
          this.waiters.delete(w);
          w.resolve(e);
        }
    });
  }

  /** Starts watching `ns`'s routes; resolves once `ip` is listening (a route added then is seen). */
  static async start(ns: Netns): Promise<RouteMonitor> {
    const proc = ns.spawn('route-monitor', 'ip', ['-ts', '-o', 'monitor', 'route']);
    const mon = new RouteMonitor(proc);
    // `ip monitor` prints nothing when it is ready: make a change until it shows up.
    const probe = '198.18.255.254';
    for (let i = 0; i < 100; i++) {
      const seen = mon.next(probe, () => true);
      await ns.exec('ip', ['route', 'replace', 'blackhole', `${probe}/32`]);
      const ok = await Promise.race([
        seen.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 50)),
      ]);
      if (ok) break;
      if (proc.hasExited()) throw new Error(`ip monitor exited: ${proc.tail()}`);
    }
    await ns.exec('ip', ['route', 'del', 'blackhole', `${probe}/32`]);
    return mon;
  }

  /** The route as last seen, undefined when there is none. */
  route(prefix: string): RouteEvent | undefined {
    return this.current.get(prefix);
  }

  /** The next event for `prefix` (any prefix: undefined) that passes `test`, from now on. */
  next(prefix: string | undefined, test: (e: RouteEvent) => boolean): Promise<RouteEvent> {
    return new Promise((resolve) => this.waiters.add({ prefix, test, resolve }));
  }

  /** Prefixes whose current route passes `test`. */
  count(test: (e: RouteEvent) => boolean): number {
    let n = 0;
    for (const e of this.current.values()) if (test(e)) n++;
    return n;
  }

  async stop(): Promise<void> {
    await this.proc.stop(1000);
  }
}
