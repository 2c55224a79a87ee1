/**
 * Beacon's release, read from package.json, which sits one directory above both src/ (a source checkout)
 * and dist/ (the container image copies it to /app/package.json for "type": "module").
 */
import { readFileSync } from 'node:fs';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** What a component says about itself in its first log line and in beacon_build_info. */
export const BUILD = { version: VERSION, nodejs: process.version } as const;
