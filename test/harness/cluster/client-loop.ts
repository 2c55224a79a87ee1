// Runs in the client namespace: starts a request to http://ADDRESS/ every INTERVAL ms, without waiting for
// the previous one, each with a TIMEOUT ms limit and a fresh connection, and prints one line per request as
// it ends: `<start, epoch ms> ok <body>` or `<start> fail <error>`. The test reads the lines to time
// outages from the client's side (the only side a user sees): as requests overlap, a lost packet costs one
// request, not the INTERVAL-long view of the service, and an outage is timed to within INTERVAL.
// Usage: node client-loop.ts ADDRESS [INTERVAL_MS] [TIMEOUT_MS]
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

const [address, intervalArg, timeoutArg] = process.argv.slice(2);
if (!address) {
  process.stderr.write('usage: client-loop.ts ADDRESS [INTERVAL_MS] [TIMEOUT_MS]\n');
  process.exit(2);
}
const interval = Number(intervalArg ?? 50);
const timeout = Number(timeoutArg ?? 500);

function once(): Promise<string> {
  return new Promise((resolve) => {
    const started = Date.now();
    const req = request({ host: address, port: 80, path: '/', agent: false, timeout }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      // One line per request: the body (the echo server's JSON) has no newline inside.
      res.on('end', () => resolve(`${started} ok ${body.trim().replaceAll('\n', ' ')}`));
      res.on('error', (err) => resolve(`${started} fail ${err.message}`));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve(`${started} fail ${err.message}`));
    req.end();
  });
}

let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
});
let next = Date.now();
while (!stopping) {
  void once().then((line) => process.stdout.write(`${line}\n`));
  next += interval;
  await sleep(Math.max(0, next - Date.now()));
}
