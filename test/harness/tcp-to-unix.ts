// Runs inside a test namespace: accepts TCP on HOST:PORT and carries each connection over the Unix
// socket PATH, which lives on the shared filesystem and so crosses network namespaces.
// Usage: node tcp-to-unix.ts HOST PORT PATH
import { connect, createServer } from 'node:net';

const [host, port, path] = process.argv.slice(2);
if (!host || !port || !path) {
  process.stderr.write('usage: tcp-to-unix.ts HOST PORT UNIX_PATH\n');
  process.exit(2);
}
const server = createServer((client) => {
  const upstream = connect(path);
  client.pipe(upstream).pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
});
server.listen(Number(port), host, () => process.stdout.write(`listening ${host}:${port}\n`));
