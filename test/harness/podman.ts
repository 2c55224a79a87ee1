/**
 * Runs built images the way a container runtime does, without a Docker engine: podman with runc, in an image
 * store of its own under a temporary directory (so a test uses the archive it was given, not whatever the
 * build's store holds under that name) that close() removes. Images of another architecture run under qemu
 * through binfmt_misc (see scripts/image/binfmt.ts).
 *
 * runc rather than podman's default crun: crun refuses this machine's hybrid cgroup layout ("cgroups in
 * hybrid mode not supported"). Resource limits are set to the current hard limits: the container's default
 * RLIMIT_NOFILE is above them and raising it needs CAP_SYS_RESOURCE, which this sandbox does not grant.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** This process's hard limit `name` in /proc/self/limits. */
function hardLimit(name: string): string {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(name));
  const hard = line?.slice(26).trim().split(/\s+/)[1];
  return hard && hard !== 'unlimited' ? hard : '1048576';
}

export class PodmanSandbox {
  private readonly dir: string;
  private readonly global: string[];
  private readonly limits: string[];

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'beacon-podman-'));
    this.global = [
      `--root=${join(this.dir, 'root')}`,
      `--runroot=${join(this.dir, 'run')}`,
      `--tmpdir=${join(this.dir, 'tmp')}`,
      '--storage-driver=overlay',
      '--cgroup-manager=cgroupfs',
      '--events-backend=file',
      '--runtime=runc',
    ];
    const nofile = hardLimit('Max open files');
    // The runtime's own process limit ends up below the shell's here (runc fails from 50,000 on, with
    // 96,367 as the shell's), and a test container needs few.
    this.limits = [`--ulimit=nofile=${nofile}:${nofile}`, '--ulimit=nproc=4096:4096'];
  }

  /** `podman ARGS`; resolves with the exit code instead of throwing on a non-zero one. */
  async podman(args: string[], timeoutMs = 120_000): Promise<RunResult> {
    try {
      // Niced: an image under qemu takes a core for tens of seconds, and the test file running beside this
      // one may be measuring timers (BFD, ARP takeover).
      const { stdout, stderr } = await run('nice', ['-n', '10', 'podman', ...this.global, ...args], {
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: 64 << 20,
      });
      return { stdout, stderr, code: 0 };
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; code?: number | string; killed?: boolean };
      if (typeof e.code !== 'number') throw new Error(`podman ${args.join(' ')}: ${String(e.code ?? err)}`);
      return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: e.code };
    }
  }

  /** Copies an OCI archive into the sandbox's store; returns the image id. */
  async load(archive: string): Promise<string> {
    const r = await this.podman(['pull', '--quiet', `oci-archive:${archive}`]);
    if (r.code !== 0) throw new Error(`podman pull oci-archive:${archive} failed:\n${r.stderr}`);
    return r.stdout.trim().split('\n').at(-1)!;
  }

  /** `podman run --rm` with the sandbox's limits; `network` defaults to none. */
  runImage(image: string, args: string[], opts: { runArgs?: string[]; timeoutMs?: number } = {}) {
    const network = opts.runArgs?.some((a) => a.startsWith('--network')) ? [] : ['--network=none'];
    return this.podman(
      ['run', '--rm', ...network, ...this.limits, ...(opts.runArgs ?? []), image, ...args],
      opts.timeoutMs,
    );
  }

  /** `podman run -d` (no --rm, so the exit code can be read after it stops); returns the container id. */
  async start(image: string, args: string[], runArgs: string[] = []): Promise<string> {
    const network = runArgs.some((a) => a.startsWith('--network')) ? [] : ['--network=none'];
    const r = await this.podman(['run', '-d', ...network, ...this.limits, ...runArgs, image, ...args]);
    if (r.code !== 0) throw new Error(`podman run -d ${image} failed:\n${r.stderr}`);
    return r.stdout.trim();
  }

  /** Stops a container (SIGTERM, then SIGKILL after `graceSeconds`) and returns its exit code. */
  async stop(container: string, graceSeconds: number): Promise<number> {
    const s = await this.podman(['stop', `--time=${graceSeconds}`, container], (graceSeconds + 30) * 1000);
    if (s.code !== 0) throw new Error(`podman stop ${container} failed:\n${s.stderr}`);
    const r = await this.podman(['inspect', '--format={{.State.ExitCode}}', container]);
    await this.podman(['rm', '--force', container]);
    return Number(r.stdout.trim());
  }

  /** The container's first process as this machine's kernel sees it. */
  async pid(container: string): Promise<number> {
    const r = await this.podman(['inspect', '--format={{.State.Pid}}', container]);
    const pid = Number(r.stdout.trim());
    if (!(pid > 0)) throw new Error(`no process for container ${container}: ${r.stdout}${r.stderr}`);
    return pid;
  }

  async logs(container: string): Promise<string> {
    const r = await this.podman(['logs', container]);
    return `${r.stdout}${r.stderr}`;
  }

  /** Removes every container and the store; what is still mounted under it is unmounted first. */
  async close(): Promise<void> {
    await this.podman(['rm', '--all', '--force', '--time=0'], 60_000).catch(() => {});
    await this.podman(['system', 'reset', '--force'], 60_000).catch(() => {});
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m): m is string => !!m && m.startsWith(this.dir))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await run('umount', ['-l', m]).catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}
