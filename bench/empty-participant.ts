/**
 * The participant of scenarios (c), (sc) and (xc): answers every try, confirm and
 * cancel, every saga action and compensate, and every XA prepare, commit and rollback, with 200 at once, with no database and no barrier, so that only the
 * coordinator's own cost is measured. Plain node:http, keep-alive.
 *
 *   EMPTY_PORT   port on 127.0.0.1 (required)
 */
import http from 'node:http';

const port = Number(process.env['EMPTY_PORT']);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('EMPTY_PORT is required\n');
  process.exit(2);
}

const OK = JSON.stringify({ ok: true, result: null });
const OK_LENGTH = String(Buffer.byteLength(OK));
const ROUTE = /^\/dtx\/[A-Za-z0-9_-]+\/(try|confirm|cancel|action|compensate|prepare|commit|rollback)$/;
let calls = 0;

const server = http.createServer((req, res) => {
  // Read the body to its end: a keep-alive connection must be drained before the next request.
  req.resume();
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', calls }));
      return;
    }
    if (req.method === 'POST' && ROUTE.test(req.url ?? '')) {
      calls++;
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': OK_LENGTH }).end(OK);
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'NOT_FOUND', message: 'no such route' }));
  });
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1');

const stop = () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
