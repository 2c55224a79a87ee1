/**
 * The BGP UPDATEs arriving at a router, as tcpdump on its link decodes them: when each speaker's
 * announcement or withdrawal of a prefix reached the router, before the router did anything with it. With
 * the route monitor (route-monitor.ts) it splits an end-to-end time into the speakers' part and the
 * router's. IPv4 NLRI only (what tcpdump prints under "Updated routes" and "Withdrawn routes").
 */
import { createInterface } from 'node:readline';
import type { Netns } from './netns.ts';
import type { TetheredProcess } from './process.ts';
import { waitFor } from './process.ts';

export interface WireRoute {
  /** Milliseconds since the epoch (tcpdump's capture time). */
  at: number;
  /** The speaker that sent it. */
  from: string;
  prefix: string;
  withdrawn: boolean;
}

/** Reads `tcpdump -l -n -tt -v` output line by line into WireRoutes. */
export class BgpWireParser {
  private at = 0;
  private from = '';
  private section: 'updated' | 'withdrawn' | undefined;

  line(text: string): WireRoute | undefined {
    const head = /^(\d+\.\d+) IP /.exec(text);
    if (head) {
      this.at = Number(head[1]) * 1000;
      this.section = undefined;
      return undefined;
    }
    const flow = /^\s+([\d.]+)\.\d+ > [\d.]+\.\d+:/.exec(text);
    if (flow) {
      this.from = flow[1]!;
      return undefined;
    }
    const t = text.trim();
    if (t === 'Updated routes:') this.section = 'updated';
    else if (t === 'Withdrawn routes:') this.section = 'withdrawn';
    else if (this.section && /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(t))
      return { at: this.at, from: this.from, prefix: t, withdrawn: this.section === 'withdrawn' };
    else if (t.endsWith(':') || /^[A-Z]/.test(t)) this.section = undefined;
    return undefined;
  }
}

export class BgpWire {
  readonly proc: TetheredProcess;
  readonly routes: WireRoute[] = [];

  private constructor(proc: TetheredProcess) {
    this.proc = proc;
    const parser = new BgpWireParser();
    createInterface({ input: proc.child.stdout! }).on('line', (l) => {
      const r = parser.line(l);
      if (r) this.routes.push(r);
    });
  }

  /** Captures BGP sent to the router on `ifname` in `ns`; resolves once tcpdump is listening. */
  static async start(ns: Netns, ifname = 'eth0'): Promise<BgpWire> {
    const proc = ns.spawn('bgp-wire', 'tcpdump', ['-l', '-n', '-tt', '-v', '-i', ifname, 'tcp dst port 179']);
    await waitFor(
      'tcpdump to listen',
      () => proc.tail().includes('listening on'),
      10_000,
      20,
      () => proc.tail(),
    );
    return new BgpWire(proc);
  }

  /** The routes for `prefix` seen at or after `since`, of one kind. */
  seen(prefix: string, since: number, withdrawn: boolean): WireRoute[] {
    return this.routes.filter((r) => r.prefix === prefix && r.at >= since && r.withdrawn === withdrawn);
  }

  async stop(): Promise<void> {
    await this.proc.stop(1000);
  }
}
