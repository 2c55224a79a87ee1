/**
 * Child processes that cannot outlive the test that started them. Each runs under `setpriv --pdeathsig KILL`,
 * so the kernel kills it even when the test process itself is killed and no cleanup code runs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  createWriteStream,
  openSync,
  readFileSync,
  type WriteStream,
} from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface TetheredProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  readonly exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
  /** The last lines it wrote, for error messages. */
  tail(): string;
  /** Whether it ever wrote `text`, one of the `remember` strings it was started with. */
  said(text: string): boolean;
  hasExited(): boolean;
}

export interface TetherOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Also append stdout and stderr to this file. */
  logFile?: string;
  /**
   * With logFile: the process writes its output into the file itself instead of through a pipe to this
   * one. Node writes to a pipe synchronously, so a test process that falls behind reading (a busy machine)
   * would hold a chatty process up; tail() and said() then read the file.
   */
  straightToLog?: boolean;
  /** Run the command inside this network namespace (`ip netns exec`). */
  netns?: string;
  /** Strings to watch the whole output for (the tail keeps only the last few kilobytes). */
  remember?: string[];
  /** 'pipe' to write to the process (`child.stdin`); default: no input. */
  stdin?: 'pipe' | 'ignore';
}

const TAIL_BYTES = 8192;

export function spawnTethered(
  name: string,
  command: string,
  args: string[],
  opts: TetherOptions = {},
): TetheredProcess {
  const argv = opts.netns ? ['ip', 'netns', 'exec', opts.netns, command, ...args] : [command, ...args];
  const straight = opts.straightToLog && opts.logFile ? opts.logFile : undefined;
  const fd = straight ? openSync(straight, 'a') : undefined;
  let child: ChildProcess;
  try {
    child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', ...argv], {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: [opts.stdin ?? 'ignore', fd ?? 'pipe', fd ?? 'pipe'],
      // A process group of its own: a terminal's Ctrl-C goes to the whole foreground group, and a tethered
      // process must stop when its owner stops it (in order, e.g. the lab's teardown), not all at once with it.
      detached: true,
    });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const output = straight ? fileOutput(straight) : pipedOutput(child, opts);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve(code ?? signal ?? 'unknown');
    });
    child.once('error', (err) => {
      output.note(`spawn failed: ${err.message}\n`);
      resolve('spawn-error');
    });
  });
  return tethered(name, child, exited, output.tail, output.said);
}

/** What a tethered process printed, as tail() and said() see it; `note` adds a line of the harness's own. */
interface Output {
  tail(): string;
  said(text: string): boolean;
  note(text: string): void;
}

/** Output read from the pipes: the last few kilobytes and the remembered strings, copied to logFile. */
function pipedOutput(child: ChildProcess, opts: TetherOptions): Output {
  let tail = '';
  const log: WriteStream | undefined = opts.logFile
    ? createWriteStream(opts.logFile, { flags: 'a' })
    : undefined;
  const remember = opts.remember ?? [];
  const seen = new Set<string>();
  const overlap = Math.max(0, ...remember.map((r) => r.length - 1));
  let carry = '';
  const keep = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    tail = (tail + text).slice(-TAIL_BYTES);
    if (remember.length) {
      const window = carry + text;
      for (const r of remember) if (!seen.has(r) && window.includes(r)) seen.add(r);
      carry = window.slice(-overlap);
    }
    // Output can still arrive after 'exit' (until 'close'): the log is ended only then.
    if (log && !log.writableEnded) log.write(chunk);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  // 'close' comes after the last 'data' event; 'exit' may come before it, and a write after end() throws.
  child.once('close', () => log?.end());
  return { tail: () => tail, said: (text) => seen.has(text), note: (text) => keep(Buffer.from(text)) };
}

/** Output the process writes into `logFile` itself (straightToLog): read back from the file. */
function fileOutput(logFile: string): Output {
  const read = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  return {
    tail: () => read().slice(-TAIL_BYTES),
    said: (text) => read().includes(text),
    note: (text) => appendFileSync(logFile, text),
  };
}

function tethered(
  name: string,
  child: ChildProcess,
  exited: Promise<number | string>,
  tail: () => string,
  said: (text: string) => boolean,
): TetheredProcess {
  let exitedYet = false;
  void exited.then(() => {
    exitedYet = true;
  });
  return {
    name,
    child,
    exited,
    tail,
    said,
    hasExited: () => exitedYet,
    async stop(graceMs = 5000) {
      if (exitedYet) return;
      child.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)]);
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/**
 * Gives a child its whole input and closes its stdin. A child that exits without reading it (promtool or
 * kubectl when the command takes no input) may close the pipe first, and the write then fails with EPIPE:
 * not the caller's error, since its verdict is the child's exit status and output. Before this, the EPIPE
 * was an unhandled error event that failed whichever test ran the child.
 */
export function endInput(child: ChildProcess, input = ''): void {
  child.stdin?.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  child.stdin?.end(input);
}

/** Whether a process exists (one owned by another user counts). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Waits until `check` resolves true, failing with `describe()` after `timeoutMs`, or with `signal`'s reason
 * as soon as it is aborted.
 */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  intervalMs = 100,
  describe: () => string = () => '',
  signal?: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    signal?.throwIfAborted();
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}\n${describe()}`);
    }
    await sleep(intervalMs);
  }
}
