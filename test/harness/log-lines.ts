/**
 * Checks on the JSON lines Beacon logs: every test that captures a component's output can assert that no
 * line names a key twice (pino writes each ancestor's bindings and the call's fields as they come, and a
 * log pipeline then keeps the first or the last value depending on its parser).
 */
import { Writable } from 'node:stream';
import { type Level, pino } from 'pino';
import type { Logger } from '../../src/log.ts';

/** The keys of a JSON object line that occur more than once at its top level. */
export function duplicateKeys(line: string): string[] {
  const seen = new Set<string>();
  const twice: string[] = [];
  let depth = 0;
  let i = 0;
  const readString = (): string => {
    const start = i;
    i++;
    while (i < line.length && line[i] !== '"') i += line[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(line.slice(start, i)) as string;
  };
  while (i < line.length) {
    const c = line[i]!;
    if (c === '"') {
      const s = readString();
      while (line[i] === ' ') i++;
      if (depth === 1 && line[i] === ':') {
        if (seen.has(s)) twice.push(s);
        seen.add(s);
      }
      continue;
    }
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    i++;
  }
  return twice;
}

/** Every line of `text` that is a JSON object and names a key twice, with the keys. */
export function linesWithDuplicateKeys(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      const d = duplicateKeys(l);
      return d.length ? [`${d.join(',')}: ${l}`] : [];
    });
}

/** A logger built like the components' (src/log.ts) whose lines are kept in memory. */
export function capturingLogger(
  level: Level,
  bindings: Record<string, string>,
): {
  log: Logger;
  lines: string[];
} {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(l);
      done();
    },
  });
  return { log: pino({ level, base: bindings }, sink), lines };
}
