// The vendor SDK's signRequest in Node, timed on the same input as
// `cargo bench --bench signing` (utilsio/sign_request), for a same-machine
// comparison. The SDK keys a new HMAC with the app hash text on every call.
//
// Run with: node scripts/node_sign_bench.js
'use strict';
const crypto = require('node:crypto');

const appHashHex = crypto
  .scryptSync('bench-app-secret', Buffer.from('fc1bd2c978b9806b', 'hex'), 32, { N: 16384, r: 8, p: 1 })
  .toString('hex');

function buildSignatureMessage({ deviceId, appId, timestamp, additionalData }) {
  if (!deviceId) throw new Error('deviceId is required');
  if (!appId) throw new Error('appId is required');
  if (!timestamp) throw new Error('timestamp is required');
  const base = `${deviceId}-${appId}-${String(timestamp)}`;
  return additionalData ? `${base}-${additionalData}` : base;
}

function signRequest({ appHashHex, ...fields }) {
  const message = buildSignatureMessage(fields);
  return crypto.createHmac('sha256', appHashHex).update(message, 'utf8').digest('hex');
}

const input = {
  appHashHex,
  deviceId: '3f2c9a1e-7b4d-4e8f-9a6b-2c7d5e0f1a3b',
  appId: 'my-app',
  timestamp: 1700000000,
  additionalData: '0.033333',
};

function time(name, iterations, fn) {
  for (let i = 0; i < iterations / 10; i++) fn(); // warm-up
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) sink += fn().length;
  const ns = Number(process.hrtime.bigint() - start) / iterations;
  console.log(`${name.padEnd(28)} ${(ns / 1000).toFixed(3)} µs/call${sink < 0 ? '!' : ''}`);
}

const startDerive = process.hrtime.bigint();
for (let i = 0; i < 10; i++) crypto.scryptSync('bench-app-secret', Buffer.from('fc1bd2c978b9806b', 'hex'), 32, { N: 16384, r: 8, p: 1 });
console.log(`${'node/scryptSync'.padEnd(28)} ${(Number(process.hrtime.bigint() - startDerive) / 10 / 1e6).toFixed(1)} ms/call`);
for (let round = 0; round < 3; round++) {
  time('node/signRequest', 500000, () => signRequest(input));
}
