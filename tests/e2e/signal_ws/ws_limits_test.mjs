// The limits of warden-control's signalling WebSocket bridge, from a real
// client (the npm `ws` package). Usage:
//   node ws_limits_test.mjs per-address <ws url> <API key> <max per address>
//   node ws_limits_test.mjs frame <ws url> <API key>
//   node ws_limits_test.mjs slow-reader <ws url> <API key>
//   node ws_limits_test.mjs tls <wss url> <API key> <CA file>
// Exits 0 when every step held, 1 (saying which step) otherwise.

import crypto from 'node:crypto';
import fs from 'node:fs';
import WebSocket from 'ws';

import { Client, fail, progress } from './signal_ws_client.mjs';

const [mode, url, apiKey, extra] = process.argv.slice(2);
const headers = { Authorization: `Bearer ${apiKey}` };
setTimeout(() => fail('timed out'), 60000).unref();

async function perAddress(max) {
  progress.step = `open ${max} connections from one address`;
  const held = [];
  for (let i = 0; i < max; i++) {
    held.push(new Client(url, `held${i}`, { headers }));
    await held[i].opened();
  }
  progress.step = 'one more is answered 429';
  const extraClient = new Client(url, 'extra', { headers });
  await extraClient.until(() => extraClient.failed || extraClient.closed, 'refusal');
  if (!extraClient.failed || !/429/.test(extraClient.failed.message)) {
    fail(`expected a 429, got ${extraClient.failed ? extraClient.failed.message : 'an open socket'}`);
  }
  progress.step = 'the held connections still work';
  await held[0].identify();
  progress.step = 'once one closes, a new one is let in';
  held[max - 1].socket.close();
  await held[max - 1].until(() => held[max - 1].closed, 'close');
  for (let attempt = 0; ; attempt++) {
    const again = new Client(url, 'again', { headers });
    await again.until(() => again.socket.readyState !== WebSocket.CONNECTING, 'answer');
    if (again.socket.readyState === WebSocket.OPEN) break;
    if (attempt > 20) fail('no room was made');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function oversizedFrame() {
  progress.step = 'identify';
  const client = await new Client(url, 'big', { headers }).identify();
  progress.step = 'declare a 1 GiB text frame: refused from its header, at once';
  // FIN + text, masked, 64-bit length 2^30, a mask, and a few bytes only.
  const header = Buffer.alloc(14);
  header[0] = 0x81;
  header[1] = 0x80 | 127;
  header.writeBigUInt64BE(1n << 30n, 2);
  crypto.randomFillSync(header, 10, 4);
  client.socket._socket.write(Buffer.concat([header, Buffer.from('{"requestId"')]));
  const refused = await client.next((event) => event.error, 'error event');
  if (refused.error.code !== 'RESOURCE_EXHAUSTED' || !/at most/.test(refused.error.message)) {
    fail(JSON.stringify(refused));
  }
  await client.until(() => client.closed, 'close');
  if (client.closed.code !== 4008) fail(`close code ${client.closed.code}`);
  progress.step = 'the server goes on';
  await new Client(url, 'after', { headers }).identify();
}

async function slowReader() {
  progress.step = 'three members in one room';
  const sender = await new Client(url, 'sender', { headers }).identify();
  const slow = await new Client(url, 'slow', { headers }).identify();
  const reader = await new Client(url, 'reader', { headers }).identify();
  const created = await sender.call({ createRoom: { name: 'firehose' } });
  const roomId = created.room.roomId;
  for (const member of [slow, reader]) {
    const joined = await member.call({ joinRoom: { roomId } });
    if (!joined.room) fail(JSON.stringify(joined));
  }
  progress.step = 'the slow member stops reading; relays go on until it is cut off';
  slow.socket._socket.pause();
  const payload = crypto.randomBytes(16 * 1024).toString('base64');
  let sent = 0;
  let received = 0;
  reader.socket.on('message', (data) => {
    if (JSON.parse(data.toString()).relayed) received++;
  });
  for (;;) {
    const ack = await sender.call({ relay: { roomId, payload } });
    if (!ack.ack) fail(JSON.stringify(ack));
    sent++;
    if ((ack.ack.delivered || 0) === 1) break;  // only the reader is left
    if (sent > 6000) fail('the slow reader was never cut off');
  }
  progress.step = 'the member that reads got every relay';
  await reader.until(() => received === sent, `${sent} relays (got ${received})`);
  progress.step = 'the slow member finds its connection ended';
  slow.socket._socket.resume();
  await slow.until(() => slow.closed, 'close');
  console.log(`cut off after ${sent} relays of 16 KiB`);
}

async function tls(caFile) {
  progress.step = 'identify over wss:// with the test CA';
  const secure = await new Client(url, 'secure', { headers, ca: fs.readFileSync(caFile) }).identify();
  const created = await secure.call({ createRoom: { name: 'over tls' } });
  if (!created.room) fail(JSON.stringify(created));
  progress.step = 'plaintext to the TLS port fails';
  const plainUrl = url.replace(/^wss:/, 'ws:');
  const plain = new WebSocket(plainUrl, { headers });
  const outcome = await new Promise((resolve) => {
    plain.on('open', () => resolve('open'));
    plain.on('error', (error) => resolve(`error: ${error.message}`));
    plain.on('close', () => resolve('close'));
  });
  if (outcome === 'open') fail('a plaintext client was served on the TLS port');
  progress.step = 'an unknown CA is refused';
  const untrusting = new WebSocket(url, { headers });
  const refused = await new Promise((resolve) => {
    untrusting.on('open', () => resolve(false));
    untrusting.on('error', () => resolve(true));
  });
  if (!refused) fail('the certificate was accepted without the test CA');
}

if (mode === 'per-address') await perAddress(Number(extra));
else if (mode === 'frame') await oversizedFrame();
else if (mode === 'slow-reader') await slowReader();
else if (mode === 'tls') await tls(extra);
else fail(`unknown mode ${mode}`);
console.log(`PASS: ${mode}`);
process.exit(0);
