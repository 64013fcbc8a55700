// Timestamp reads, timed from a process of their own (so the load generator's work does not count
// as server latency). Usage: node --import tsx bench/hostileReader.ts URL CONNECTIONS
// Prints "ready", reads until its standard input closes, then prints one JSON line: the latency of
// every read in milliseconds.
import http from 'node:http';

const [url, connections] = process.argv.slice(2);
if (!url) throw new Error('usage: hostileReader.ts URL [CONNECTIONS]');
let stopped = false;
process.stdin.on('data', () => {});
process.stdin.on('end', () => (stopped = true));
const agent = new http.Agent({ keepAlive: true });

function read(): Promise<void> {
  return new Promise((resolve, reject) => {
    http
      .get(url!, { agent }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`timestamp read: ${res.statusCode}`));
        res.resume();
        res.on('end', resolve);
      })
      .on('error', reject);
  });
}

await read(); // warm the connection
process.stdout.write('ready\n');
const latencies: number[] = [];
await Promise.all(
  Array.from({ length: Number(connections ?? 2) }, async () => {
    while (!stopped) {
      const t0 = performance.now();
      await read();
      latencies.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 5));
    }
  }),
);
process.stdout.write(`${JSON.stringify(latencies)}\n`);
agent.destroy();
