/**
 * A tcpdump capture in a namespace whose output is read line by line as it comes (`-l`), started only once
 * it listens, so that nothing sent after this returns is missed.
 */
import type { Netns } from './netns.ts';
import { type TetheredProcess, waitFor } from './process.ts';

export async function startCapture(
  ns: Netns,
  label: string,
  args: string[],
  onLine: (line: string) => void,
): Promise<TetheredProcess> {
  const capture = ns.spawn(label, 'tcpdump', ['-l', ...args]);
  let partial = '';
  capture.child.stdout!.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop()!;
    for (const l of lines) onLine(l);
  });
  await waitFor(
    'tcpdump to listen',
    () => capture.tail().includes('listening on'),
    10_000,
    50,
    () => capture.tail(),
  );
  return capture;
}
