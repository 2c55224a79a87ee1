/**
 * Runs the image tools (mmdebstrap, buildah, podman, npm, compilers) with their whole output in a log file and
 * only the lines that show progress on the console: a cold build takes minutes and prints thousands of lines.
 * A failure throws with the log's last lines, so the error is readable without opening the file.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';

export type Log = (line: string) => void;

export interface ExecOptions {
  /** Every line of output is appended here. */
  logFile: string;
  /** Receives the lines that `progress` selects. */
  log: Log;
  progress?: (line: string) => boolean;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export class CommandError extends Error {
  readonly command: string;
  readonly code: number | null;

  constructor(command: string, code: number | null, tail: string[], logFile: string) {
    super(`${command} failed (exit ${code}); last lines of ${logFile}:\n${tail.join('\n')}`);
    this.command = command;
    this.code = code;
  }
}

/** Runs `cmd args`, resolves with its stdout (also logged), rejects with a CommandError. */
export function exec(cmd: string, args: readonly string[], opts: ExecOptions): Promise<string> {
  mkdirSync(dirname(opts.logFile), { recursive: true });
  const shown = `${cmd} ${args.join(' ')}`;
  appendFileSync(opts.logFile, `\n$ ${shown}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tail: string[] = [];
    let stdout = '';
    const onLine = (line: string) => {
      appendFileSync(opts.logFile, `${line}\n`);
      tail.push(line);
      if (tail.length > 40) tail.shift();
      if (opts.progress?.(line)) opts.log(line);
    };
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    const lines = [createInterface({ input: child.stdout }), createInterface({ input: child.stderr })];
    for (const rl of lines) rl.on('line', onLine);
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'ENOENT' ? new Error(`${cmd} is not installed (scripts/setup.sh installs it)`) : err,
      );
    });
    child.on('close', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new CommandError(shown, code, tail, opts.logFile));
    });
  });
}

/** "12.3 s" since `started`, for progress lines. */
export function since(started: number): string {
  return `${((Date.now() - started) / 1000).toFixed(1)} s`;
}
