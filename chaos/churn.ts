/**
 * Service churn: create, delete, switch to ClusterIP and back, change the requested address, set, change
 * or drop the sharing key, and change the ports (which may clash with a co-holder's). Refusals by the API server are counted, not fatal: the point is to keep
 * the controller busy with every kind of change while faults happen.
 */

import type { KubeRest } from '../src/k8s/rest.ts';
import { setEndpoints } from '../test/harness/cluster-lab.ts';
import { createService } from '../test/harness/kube.ts';
import type { Rand } from './random.ts';

const LB_IPS = 'beacon.dev/load-balancer-ips';
const SHARE = 'beacon.dev/allow-shared-ip';
const KEYS = ['blue', 'green', 'red'];
const PORTS = [{ port: 80 }, { port: 443 }, { port: 8080 }, { port: 53, protocol: 'UDP' }];

export interface ChurnCounts {
  create: number;
  delete: number;
  type: number;
  ip: number;
  key: number;
  ports: number;
  refused: number;
}

export type ChurnOp = keyof Omit<ChurnCounts, 'refused'>;

export class Churn {
  readonly counts: ChurnCounts = { create: 0, delete: 0, type: 0, ip: 0, key: 0, ports: 0, refused: 0 };
  private readonly rest: KubeRest;
  private readonly ns: string;
  private readonly nodes: string[];
  private readonly rand: Rand;
  private readonly pool: string[];
  private readonly max: number;
  private readonly log: (line: string) => void;
  /** Our Services and whether each is LoadBalancer now. */
  private readonly services = new Map<string, { lb: boolean }>();
  private next = 0;

  constructor(opts: {
    rest: KubeRest;
    namespace: string;
    nodes: string[];
    rand: Rand;
    pool: string[];
    max: number;
    log: (line: string) => void;
  }) {
    this.rest = opts.rest;
    this.ns = opts.namespace;
    this.nodes = opts.nodes;
    this.rand = opts.rand;
    this.pool = opts.pool;
    this.max = opts.max;
    this.log = opts.log;
  }

  get size(): number {
    return this.services.size;
  }

  private path(name: string): string {
    return `/api/v1/namespaces/${this.ns}/services/${name}`;
  }

  async create(): Promise<void> {
    const name = `svc-${this.next++}`;
    const annotations: Record<string, string> = {};
    if (this.rand.chance(0.4)) annotations[SHARE] = this.rand.pick(KEYS);
    if (this.rand.chance(0.2)) annotations[LB_IPS] = this.rand.pick(this.pool);
    this.services.set(name, { lb: true });
    await createService(this.rest, this.ns, name, undefined, {
      annotations,
      ports: [this.rand.pick(PORTS)],
    });
    // No endpoint, no announcement: every Service gets one on every node.
    await setEndpoints(this.rest, this.ns, name, this.nodes);
    this.counts.create++;
    this.log(`create ${name} ${JSON.stringify(annotations)}`);
  }

  /** One random operation. */
  async step(): Promise<ChurnOp> {
    const names = [...this.services.keys()];
    const op = this.rand.weighted<ChurnOp>({
      create: this.services.size < this.max ? 3 : 0,
      delete: this.services.size > this.max / 4 ? 1.5 : 0,
      type: 1.5,
      ip: 1.5,
      key: 1.5,
      ports: 1.5,
    });
    const name = this.rand.pick(names);
    try {
      if (op === 'create') await this.create();
      else if (op === 'delete') await this.remove(name);
      else if (op === 'type') await this.toggleType(name);
      else if (op === 'ip') await this.changeIp(name);
      else if (op === 'ports') await this.changePorts(name);
      else await this.changeKey(name);
    } catch (err) {
      this.counts.refused++;
      this.log(`${op} ${name} refused: ${(err as Error).message.slice(0, 200)}`);
    }
    return op;
  }

  private async remove(name: string): Promise<void> {
    this.services.delete(name);
    await this.rest.delete(this.path(name));
    await this.rest
      .delete(`/apis/discovery.k8s.io/v1/namespaces/${this.ns}/endpointslices/${name}-lab`)
      .catch(() => {});
    this.counts.delete++;
    this.log(`delete ${name}`);
  }

  private async toggleType(name: string): Promise<void> {
    const s = this.services.get(name)!;
    const spec = s.lb
      ? { type: 'ClusterIP', allocateLoadBalancerNodePorts: null, externalTrafficPolicy: null }
      : { type: 'LoadBalancer', allocateLoadBalancerNodePorts: false };
    await this.rest.patch(this.path(name), 'merge', { spec });
    s.lb = !s.lb;
    this.counts.type++;
    this.log(`type ${name} ${spec.type}`);
  }

  private async changeIp(name: string): Promise<void> {
    const ip = this.rand.chance(0.3) ? null : this.rand.pick(this.pool);
    await this.rest.patch(this.path(name), 'merge', { metadata: { annotations: { [LB_IPS]: ip } } });
    this.counts.ip++;
    this.log(`ip ${name} ${ip ?? '(none)'}`);
  }

  private async changePorts(name: string): Promise<void> {
    const p = this.rand.pick(PORTS);
    const protocol = p.protocol ?? 'TCP';
    await this.rest.patch(this.path(name), 'merge', {
      spec: { ports: [{ name: `p${p.port}-${protocol.toLowerCase()}`, port: p.port, protocol }] },
    });
    this.counts.ports++;
    this.log(`ports ${name} ${p.port}/${protocol}`);
  }

  private async changeKey(name: string): Promise<void> {
    const key = this.rand.chance(0.3) ? null : this.rand.pick(KEYS);
    await this.rest.patch(this.path(name), 'merge', { metadata: { annotations: { [SHARE]: key } } });
    this.counts.key++;
    this.log(`key ${name} ${key ?? '(none)'}`);
  }
}
