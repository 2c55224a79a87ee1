/**
 * One builder at a time per cache directory: the test runner, a test file and `scripts/build-image.sh` may ask
 * for the same images at once, and two buildah builds of one tag, or two writers of one archive, would race.
 * The lock is a directory holding the owner's pid, so a builder that was killed does not block the next one.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Log } from './exec.ts';

function holder(lock: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(lock, 'pid'), 'utf8'));
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function withLock<T>(lock: string, log: Log, fn: () => Promise<T>): Promise<T> {
  let waiting = false;
  let pidless = 0;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = holder(lock);
      // A lock without a pid is being taken right now, or its taker died before writing it.
      pidless = pid === undefined ? pidless + 1 : 0;
      if ((pid !== undefined && !alive(pid)) || pidless > 10) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (!waiting) log(`waiting for the image build of process ${pid ?? '?'} (${lock})`);
      waiting = true;
      await sleep(1000);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
