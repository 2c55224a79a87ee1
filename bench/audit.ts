/**
 * Counting API requests from the API server's audit log, for the benches that report requests per second.
 * The log is never rotated (`--audit-log-maxsize=0`): kube-apiserver otherwise renames it at 100 MB and a
 * count from `audit.log` alone misses what was moved aside. Should a rotated file (`audit-<time>.log`)
 * appear all the same, it is read too. Files are read line by line: the log of a scale run is larger than
 * one JavaScript string may be.
 */
import { createReadStream, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface AuditEvent {
  auditID?: string;
  stage?: string;
  verb?: string;
  userAgent?: string;
  requestReceivedTimestamp?: string;
}

/** kube-apiserver flags for an audit log in `dir` following `policy` (an audit.k8s.io/v1 Policy). */
export function auditLogArgs(dir: string, policy: string): string[] {
  writeFileSync(join(dir, 'audit-policy.yaml'), policy);
  return [
    `--audit-policy-file=${join(dir, 'audit-policy.yaml')}`,
    `--audit-log-path=${join(dir, 'audit.log')}`,
    // 0: one file, never rotated (the default renames it at 100 MB).
    '--audit-log-maxsize=0',
    // Each request is written before it is answered, so a count taken right after a window is complete.
    '--audit-log-mode=blocking',
  ];
}

/** The audit log files in `dir`: rotated ones (oldest first, by the time in their names), then audit.log. */
export function auditLogFiles(dir: string): string[] {
  const rotated = readdirSync(dir)
    .filter((f) => /^audit-.+\.log$/.test(f))
    .sort();
  return [...rotated, 'audit.log'].map((f) => join(dir, f));
}

/**
 * Each request received between `from` and `to` (milliseconds since the epoch) by a user agent starting
 * with `agentPrefix`, once: a watch is logged at ResponseStarted and again at ResponseComplete.
 */
export async function auditedRequests(
  dir: string,
  agentPrefix: string,
  from: number,
  to: number,
): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  const seen = new Set<string>();
  for (const file of auditLogFiles(dir)) {
    const lines = createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
    for await (const line of lines) {
      if (!line.includes(agentPrefix)) continue;
      const e = JSON.parse(line) as AuditEvent;
      if (e.stage === 'RequestReceived' || !e.userAgent?.startsWith(agentPrefix)) continue;
      const t = Date.parse(e.requestReceivedTimestamp ?? '');
      if (!(t >= from && t <= to)) continue;
      if (e.auditID) {
        if (seen.has(e.auditID)) continue;
        seen.add(e.auditID);
      }
      out.push(e);
    }
  }
  return out;
}

export const WRITE_VERBS: readonly string[] = ['create', 'update', 'patch', 'delete', 'deletecollection'];
