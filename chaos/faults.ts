/**
 * The faults: SIGKILL of controller replicas and speakers (each restarted after a random pause), a
 * node's link cut at the switch for a few seconds, one-way cuts between two nodes (a blackhole route in
 * one of them), SIGSTOP stalls of a speaker, key rotations (SIGUSR2), and the deletion and re-creation of
 * the old shared heartbeat Secret. Each kind runs in its own loop with its own seeded sequence; `stop()`
 * ends the loops and brings everything back up, so the settle phase starts whole.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from '../test/harness/binaries.ts';
import { BEACON_NS, type ClusterLab, type LabNode } from '../test/harness/cluster-lab.ts';
import { spawnTethered, type TetheredProcess, waitFor } from '../test/harness/process.ts';
import type { Rand } from './random.ts';

const NODE = join(REPO_ROOT, 'node_modules', '.bin', 'node');
const MAIN = join(REPO_ROOT, 'src', 'cli', 'main.ts');

export interface FaultCounts {
  controllerKills: number;
  speakerKills: number;
  partitions: number;
  oneWayCuts: number;
  stalls: number;
  keyRotations: number;
  secretDeletions: number;
}

interface Replica {
  id: string;
  process: TetheredProcess | undefined;
}

export class Faults {
  readonly counts: FaultCounts = {
    controllerKills: 0,
    speakerKills: 0,
    partitions: 0,
    oneWayCuts: 0,
    stalls: 0,
    keyRotations: 0,
    secretDeletions: 0,
  };
  /** One-way cuts in place: the node whose route drops, and the address it drops. */
  private readonly blackholes = new Set<{ node: LabNode; to: string }>();
  readonly controllers: Replica[] = [
    { id: 'ctl-a', process: undefined },
    { id: 'ctl-b', process: undefined },
  ];
  private readonly lab: ClusterLab;
  private readonly dir: string;
  private readonly log: (line: string) => void;
  private stopping = false;
  private wake: (() => void)[] = [];
  private readonly cut = new Set<LabNode>();
  private loops: Promise<void>[] = [];
  private readonly synced = new WeakSet<TetheredProcess>();

  constructor(lab: ClusterLab, dir: string, log: (line: string) => void) {
    this.lab = lab;
    this.dir = dir;
    this.log = log;
  }

  startController(r: Replica): void {
    r.process = spawnTethered(
      r.id,
      NODE,
      [
        MAIN,
        'controller',
        `--kubeconfig=${this.lab.api.kubeconfigPath}`,
        `--namespace=${BEACON_NS}`,
        `--identity=${r.id}`,
        '--lease-duration=2',
        '--log-level=info',
      ],
      { logFile: join(this.dir, `${r.id}.log`) },
    );
  }

  /** Like ClusterLab.startSpeaker, but logging into the run's directory, which outlives the lab. */
  startSpeaker(node: LabNode): void {
    node.speaker = node.ns.spawn(
      `speaker-${node.name}`,
      NODE,
      [
        MAIN,
        'speaker',
        `--node=${node.name}`,
        `--kubeconfig=${this.lab.apiBridge.kubeconfigPath}`,
        `--namespace=${BEACON_NS}`,
        '--log-level=info',
      ],
      { logFile: join(this.dir, `speaker-${node.name}.log`) },
    );
    // The tail keeps only the last lines; remember the sync line before it scrolls out.
    const p = node.speaker;
    const onData = (chunk: Buffer) => {
      if (!chunk.toString('utf8').includes('caches synced')) return;
      this.synced.add(p);
      p.child.stdout?.off('data', onData);
    };
    p.child.stdout?.on('data', onData);
  }

  async waitSynced(node: LabNode): Promise<void> {
    await waitFor(
      `${node.name}'s speaker to sync`,
      () => !!node.speaker?.tail().includes('caches synced'),
      30_000,
      50,
    );
  }

  /** Sleeps, but wakes at once when the faults stop. */
  private async pause(ms: number): Promise<void> {
    if (this.stopping) return;
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(t);
        this.wake = this.wake.filter((w) => w !== wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      this.wake.push(wake);
    });
  }

  start(rands: {
    controllers: Rand;
    speakers: Rand;
    partitions: Rand;
    oneWay: Rand;
    stalls: Rand;
    keys: Rand;
  }): void {
    this.loops = [
      this.controllerLoop(rands.controllers),
      this.speakerLoop(rands.speakers),
      this.partitionLoop(rands.partitions),
      this.oneWayLoop(rands.oneWay),
      this.stallLoop(rands.stalls),
      this.keyLoop(rands.keys),
    ];
  }

  /** Node a's packets to node b dropped (a blackhole route in a's namespace); b to a still works. */
  private async oneWayLoop(rand: Rand): Promise<void> {
    while (!this.stopping) {
      await this.pause(rand.int(5_000, 13_000));
      if (this.stopping) return;
      const a = rand.pick(this.lab.nodes);
      const b = rand.pick(this.lab.nodes.filter((n) => n !== a));
      const cut = { node: a, to: b.ip };
      const r = await a.ns.exec('ip', ['route', 'add', 'blackhole', `${b.ip}/32`]);
      if (r.code !== 0) continue;
      this.blackholes.add(cut);
      this.counts.oneWayCuts++;
      const ms = rand.int(2_000, 6_000);
      this.log(`${a.name}'s packets to ${b.name} dropped for ${ms} ms (one-way)`);
      await this.pause(ms);
      await this.unblackhole(cut);
    }
  }

  private async unblackhole(cut: { node: LabNode; to: string }): Promise<void> {
    if (!this.blackholes.delete(cut)) return;
    await cut.node.ns.exec('ip', ['route', 'del', 'blackhole', `${cut.to}/32`]);
    this.log(`${cut.node.name}'s packets to ${cut.to} flow again`);
  }

  /** A speaker stopped (SIGSTOP) for up to two seconds, then continued. */
  private async stallLoop(rand: Rand): Promise<void> {
    while (!this.stopping) {
      await this.pause(rand.int(4_000, 11_000));
      if (this.stopping) return;
      const node = rand.pick(this.lab.nodes);
      const p = node.speaker;
      if (!p || p.hasExited()) continue;
      const ms = rand.int(300, 2_000);
      p.child.kill('SIGSTOP');
      this.counts.stalls++;
      this.log(`speaker on ${node.name} stopped (SIGSTOP) for ${ms} ms`);
      await sleep(ms);
      if (!p.hasExited()) p.child.kill('SIGCONT');
    }
  }

  /** A speaker rotates its keys (SIGUSR2); now and then the old shared Secret is deleted and re-created. */
  private async keyLoop(rand: Rand): Promise<void> {
    const path = `/api/v1/namespaces/${BEACON_NS}/secrets/beacon-speaker-secrets`;
    while (!this.stopping) {
      await this.pause(rand.int(6_000, 14_000));
      if (this.stopping) return;
      if (rand.int(0, 2) === 0) {
        await this.lab.rest.delete(path).catch(() => {});
        await this.pause(rand.int(500, 3_000));
        await this.lab.rest
          .create(`/api/v1/namespaces/${BEACON_NS}/secrets`, {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'beacon-speaker-secrets' },
            data: {
              'heartbeat-key': Buffer.from(String(rand.int(0, 1e9)).padEnd(32, 'x')).toString('base64'),
            },
          })
          .catch(() => {});
        this.counts.secretDeletions++;
        this.log('old heartbeat Secret deleted and re-created');
        continue;
      }
      const node = rand.pick(this.lab.nodes);
      if (!node.speaker || node.speaker.hasExited()) continue;
      node.speaker.child.kill('SIGUSR2');
      this.counts.keyRotations++;
      this.log(`speaker on ${node.name} rotates its keys`);
    }
  }

  private async controllerLoop(rand: Rand): Promise<void> {
    while (!this.stopping) {
      await this.pause(rand.int(3_000, 9_000));
      if (this.stopping) return;
      const victim = rand.pick(this.controllers);
      if (!victim.process || victim.process.hasExited()) continue;
      victim.process.child.kill('SIGKILL');
      await victim.process.exited;
      this.counts.controllerKills++;
      this.log(`SIGKILL controller ${victim.id}`);
      await this.pause(rand.int(500, 4_000));
      this.startController(victim);
      this.log(`restarted controller ${victim.id}`);
    }
  }

  private async speakerLoop(rand: Rand): Promise<void> {
    while (!this.stopping) {
      await this.pause(rand.int(4_000, 10_000));
      if (this.stopping) return;
      const node = rand.pick(this.lab.nodes);
      if (!node.speaker || node.speaker.hasExited()) continue;
      node.speaker.child.kill('SIGKILL');
      await node.speaker.exited;
      this.counts.speakerKills++;
      this.log(`SIGKILL speaker on ${node.name}`);
      await this.pause(rand.int(300, 3_000));
      this.startSpeaker(node);
      this.log(`restarted speaker on ${node.name}`);
    }
  }

  private async partitionLoop(rand: Rand): Promise<void> {
    while (!this.stopping) {
      await this.pause(rand.int(5_000, 14_000));
      if (this.stopping) return;
      const node = rand.pick(this.lab.nodes);
      await this.lab.net.setBridgePort(this.lab.bridge, node.port, 'down');
      this.cut.add(node);
      this.counts.partitions++;
      const ms = rand.int(2_000, 5_000);
      this.log(`link of ${node.name} cut at the switch for ${ms} ms`);
      await this.pause(ms);
      await this.heal(node);
    }
  }

  private async heal(node: LabNode): Promise<void> {
    if (!this.cut.has(node)) return;
    await this.lab.net.setBridgePort(this.lab.bridge, node.port, 'up');
    this.cut.delete(node);
    this.log(`link of ${node.name} restored`);
  }

  /** Ends the fault loops and brings every replica, speaker and link back. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const w of this.wake.splice(0)) w();
    await Promise.all(this.loops);
    for (const node of [...this.cut]) await this.heal(node);
    for (const cut of [...this.blackholes]) await this.unblackhole(cut);
    for (const n of this.lab.nodes) if (n.speaker && !n.speaker.hasExited()) n.speaker.child.kill('SIGCONT');
    for (const r of this.controllers) if (!r.process || r.process.hasExited()) this.startController(r);
    const restarted = this.lab.nodes.filter((n) => !n.speaker || n.speaker.hasExited());
    for (const node of restarted) this.startSpeaker(node);
    await Promise.all(restarted.map((n) => this.waitSynced(n)));
  }

  async shutdown(): Promise<void> {
    this.stopping = true;
    for (const w of this.wake.splice(0)) w();
    await Promise.all(this.loops).catch(() => {});
    await Promise.all(this.controllers.map((r) => r.process?.stop(3000)));
    await sleep(0);
  }
}
