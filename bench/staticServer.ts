// The baseline: the same files served by Node's own http with fs, as a plain static server would.
// Usage: node --import tsx bench/staticServer.ts DIR PORT
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const [dir, port] = process.argv.slice(2);
if (!dir || !port) throw new Error('usage: staticServer.ts DIR PORT');
const root = path.resolve(dir);

http
  .createServer((req, res) => {
    const file = path.join(root, path.normalize(decodeURIComponent((req.url ?? '/').split('?')[0]!)));
    if (!file.startsWith(root)) return void res.writeHead(403).end();
    fs.stat(file, (err, st) => {
      if (err || !st.isFile()) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': st.size });
      fs.createReadStream(file).pipe(res);
    });
  })
  .listen(Number(port), '127.0.0.1', () => process.stdout.write('ready\n'));
