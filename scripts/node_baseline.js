// The signature callback in plain Node (http + crypto), for comparison only.
// Same demo credentials, checks and answers as `cargo run --example server --features client,server`.
//
// Run with: PORT=3000 node scripts/node_baseline.js
'use strict';
const http = require('node:http');
const crypto = require('node:crypto');

const APP_ID = 'demo-app-id';
// DEMO ONLY, the same well-known values as examples/server.rs.
const appHashHex = crypto
  .scryptSync('demo-secret-DO-NOT-USE-IN-PRODUCTION', Buffer.from('64656d6f2d73616c74', 'hex'), 32,
    { N: 16384, r: 8, p: 1 })
  .toString('hex');

function send(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/api/signature-callback') {
    return send(res, 404, { error: 'Not found' });
  }
  if (req.headers['x-utilsio-origin'] !== 'utilsio.dev') {
    req.resume();
    return send(res, 403, { error: 'Unauthorized origin' });
  }
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > 16384) { req.destroy(); return; }
    chunks.push(c);
  });
  req.on('end', () => {
    let body;
    try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch (e) {
      return send(res, 400, { error: 'Invalid JSON body: ' + e.message });
    }
    const { deviceId, appId, additionalData, timestamp } = body || {};
    if (!deviceId || !appId || !additionalData || !timestamp) {
      return send(res, 400, { error: 'Missing required fields: deviceId, appId, additionalData, timestamp' });
    }
    const now = Math.floor(Date.now() / 1000);
    if (Math.abs(now - timestamp) > 60) return send(res, 400, { error: 'Invalid timestamp' });
    if (appId !== APP_ID) return send(res, 403, { error: 'Invalid appId' });
    const message = `${deviceId}-${appId}-${String(timestamp)}-${additionalData}`;
    const signature = crypto.createHmac('sha256', appHashHex).update(message, 'utf8').digest('hex');
    send(res, 200, { signature, timestamp: String(timestamp) });
  });
});

const port = Number(process.env.PORT || 3000);
server.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('SIGINT', () => server.close(() => process.exit(0)));
