/** Text forms of RFC 1997 communities and RFC 8092 large communities, as routers print them. */
import type { LargeCommunity } from './messages.ts';

/** RFC 1997 and RFC 7999 well-known communities by the names FRR and BIRD use. */
const WELL_KNOWN: ReadonlyMap<string, number> = new Map([
  ['graceful-shutdown', 0xffff0000],
  ['blackhole', 0xffff029a],
  ['no-export', 0xffffff01],
  ['no-advertise', 0xffffff02],
  ['no-export-subconfed', 0xffffff03],
  ['local-as', 0xffffff03],
  ['no-peer', 0xffffff04],
]);

const U16 = /^\d{1,5}$/;
const U32 = /^\d{1,10}$/;

/** `ASN:value` (both 0..65535) or a well-known name; undefined when neither. */
export function parseCommunity(text: string): number | undefined {
  const named = WELL_KNOWN.get(text.toLowerCase());
  if (named !== undefined) return named;
  const parts = text.split(':');
  if (parts.length !== 2 || !U16.test(parts[0]!) || !U16.test(parts[1]!)) return undefined;
  const hi = Number(parts[0]);
  const lo = Number(parts[1]);
  if (hi > 0xffff || lo > 0xffff) return undefined;
  return ((hi << 16) | lo) >>> 0;
}

/** `global:local1:local2` with each part 0..4294967295; a leading `large:` is accepted. */
export function parseLargeCommunity(text: string): LargeCommunity | undefined {
  const body = text.toLowerCase().startsWith('large:') ? text.slice(6) : text;
  const parts = body.split(':');
  if (parts.length !== 3 || !parts.every((p) => U32.test(p) && Number(p) <= 0xffffffff)) return undefined;
  return [Number(parts[0]), Number(parts[1]), Number(parts[2])];
}

export function formatCommunity(c: number): string {
  for (const [name, value] of WELL_KNOWN) if (value === c) return name;
  return `${c >>> 16}:${c & 0xffff}`;
}

export function formatLargeCommunity(c: LargeCommunity): string {
  return `${c[0]}:${c[1]}:${c[2]}`;
}
