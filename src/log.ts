import { type LevelWithSilent, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS: readonly LevelWithSilent[] = [
  'fatal',
  'error',
  'warn',
  'info',
  'debug',
  'trace',
  'silent',
];

export function isLogLevel(value: string): value is LevelWithSilent {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/**
 * A child logger that binds only the keys its parent has not bound yet. pino writes every binding of every
 * ancestor, so binding `node` twice (a component's logger already has it, a module it uses adds it again)
 * puts the key twice in one JSON line, which log pipelines parse differently (first or last wins).
 */
export function childLogger(parent: Logger, bindings: Record<string, unknown>): Logger {
  const bound = parent.bindings();
  const fresh = Object.entries(bindings).filter(([k]) => !(k in bound));
  return fresh.length ? parent.child(Object.fromEntries(fresh)) : parent;
}

/**
 * One JSON logger per process. `service` names the Beacon component (controller, speaker, ...) so that
 * lines from several components collected on one node stay apart; children add `service`/`address`/`node`.
 */
export function createLogger(component: string, level: LevelWithSilent = 'info'): Logger {
  return pino({
    level,
    base: { component },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
