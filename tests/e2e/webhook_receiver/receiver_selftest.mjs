// Checks receiver.mjs on its own, before any Warden test relies on it: it
// signs deliveries with the same library (Webhook.sign), sends them with
// fetch, and reads back what the receiver recorded and answered.
//
//   node receiver_selftest.mjs        exit 0 and PASS, or FAIL lines and exit 1

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';

const here = path.dirname(new URL(import.meta.url).pathname);
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'webhook-receiver-'));
const secretFile = path.join(workDir, 'secrets');
const oldSecret = `whsec_${Buffer.from('the secret before rotation!!').toString('base64')}`;
const newSecret = `whsec_${Buffer.from('the secret after rotation!!!').toString('base64')}`;

const failures = [];
function check(condition, what) {
  if (!condition) failures.push(what);
}

// Resolves with the port once the receiver prints `listening <port>`.
function startReceiver() {
  const script = path.join(here, 'receiver.mjs');
  const child = spawn(process.execPath, [script, '--port', '0', '--secret-file', secretFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (data) => {
      output += data;
      const match = output.match(/^listening (\d+)\n/);
      if (match) resolve({ child, port: Number(match[1]) });
    });
    child.on('exit', (code) => reject(new Error(`receiver exited with ${code}: ${output}`)));
  });
}

let sequence = 0;
function event(type) {
  sequence += 1;
  return {
    id: `evt_selftest_${sequence}`,
    type,
    timestamp: new Date().toISOString(),
    actor: 'selftest',
    subject: `session_${sequence}`,
    data: { sequence },
  };
}

// Sends `body` signed with each of `secrets` (all in one header, as during a
// rotation); `tamper` changes the body after signing.
async function send(base, body, secrets, { tamper = false, path: route = '/hook' } = {}) {
  const id = `msg_${body.id}`;
  const now = new Date();
  const text = JSON.stringify(body);
  const signature = secrets.map((secret) => new Webhook(secret).sign(id, now, text)).join(' ');
  const response = await fetch(`${base}${route}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': signature,
    },
    body: tamper ? text.replace('selftest', 'tampered') : text,
  });
  await response.text();
  return response.status;
}

async function control(base, request) {
  const body = JSON.stringify(request);
  const response = await fetch(`${base}/control`, { method: 'POST', body });
  await response.text();
  return response.status;
}

async function messages(base, since = 0) {
  return (await fetch(`${base}/messages?since=${since}`)).json();
}

// Many signed deliveries over a few keep-alive connections, the way Warden
// sends. node:http rather than fetch: fetch itself tops out near 1,000/s on a
// two-core machine, which would measure the client, not the receiver.
async function requestsPerSecond(port, total, connections) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  function post(body) {
    const id = `msg_${body.id}`;
    const now = new Date();
    const text = JSON.stringify(body);
    const headers = {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': new Webhook(newSecret).sign(id, now, text),
    };
    return new Promise((resolve, reject) => {
      const target = { host: '127.0.0.1', port, method: 'POST', path: '/hook', agent, headers };
      const request = http.request(target, (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode));
      });
      request.on('error', reject);
      request.end(text);
    });
  }
  let sent = 0;
  const statuses = new Set();
  const started = performance.now();
  async function connection() {
    while (sent < total) {
      sent += 1;
      statuses.add(await post(event('load.test')));
    }
  }
  await Promise.all(Array.from({ length: connections }, connection));
  const rate = total / ((performance.now() - started) / 1000);
  agent.destroy();
  check(statuses.size === 1 && statuses.has(200), `load: answered ${[...statuses].join(',')}`);
  return rate;
}

const { child, port } = await startReceiver();
const base = `http://127.0.0.1:${port}`;
try {
  // The status a delivery of a new event of `type` signed with `secrets` got.
  const deliver = (type, secrets, options) => send(base, event(type), secrets, options);

  // Before the test writes the secret nothing verifies; the request is still recorded.
  check((await deliver('session.opened', [oldSecret])) === 400, 'no secret file: not 400');
  fs.writeFileSync(secretFile, `${oldSecret}\n`);

  const opened = event('session.opened');
  check((await send(base, opened, [oldSecret])) === 200, 'signed: not 200');
  check((await deliver('tampered', [oldSecret], { tamper: true })) === 400, 'tampered: not 400');
  check((await deliver('session.closed', [newSecret])) === 400, 'unknown secret: not 400');

  let recorded = await messages(base);
  const [unsigned, signed, tampered, unknown] = recorded;
  check(recorded.length === 4, `recorded ${recorded.length} of 4`);
  check(!unsigned.verified && unsigned.error.includes('no secret'), 'no secret file: verified');
  check(signed.verified && signed.error === '', 'signed: not recorded as verified');
  check(signed.type === 'session.opened' && signed.body.id === opened.id, 'signed: wrong body');
  check(signed.id === `msg_${opened.id}` && signed.path === '/hook', 'signed: wrong id or path');
  check(!tampered.verified && tampered.error !== '', 'tampered: recorded as verified');
  check(tampered.body !== null, 'tampered: body not recorded');
  check(!unknown.verified, 'unknown secret: recorded as verified');

  // Rotation: the sender signs with both secrets, the receiver knows either.
  const bothSigned = await deliver('rotation.both', [oldSecret, newSecret]);
  check(bothSigned === 200, 'two signatures: not 200');
  fs.writeFileSync(secretFile, `${oldSecret}\n${newSecret}\n`);
  check((await deliver('rotation.new', [newSecret])) === 200, 'second secret in file: not 200');
  check((await deliver('other', [oldSecret], { path: '/other' })) === 200, 'other path: not 200');
  recorded = await messages(base, 4);
  check(recorded.length === 3 && recorded.every((m) => m.verified), 'rotation: not all verified');
  check(recorded[2]?.path === '/other', 'other path: not recorded');

  // Programmed answers: two 500s, then 200 again; a bad delivery does not use one up.
  check((await control(base, { fail_next: 2, status: 500 })) === 200, 'control: not 200');
  check((await deliver('bad', [oldSecret], { tamper: true })) === 400, 'bad before 500s: not 400');
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push(await deliver('fail.next', [oldSecret]));
  check(statuses.join(',') === '500,500,200', `fail_next answered ${statuses.join(',')}`);
  const recordedStatuses = (await messages(base, 7)).map((m) => m.status).join(',');
  check(recordedStatuses === '400,500,500,200', `fail_next: recorded ${recordedStatuses}`);

  check((await control(base, { delay_ms: 300 })) === 200, 'delay control: not 200');
  const started = Date.now();
  await deliver('delayed', [oldSecret]);
  check(Date.now() - started >= 300, `delay_ms 300 answered in ${Date.now() - started} ms`);

  check((await control(base, { reset: true })) === 200, 'reset: not 200');
  check((await messages(base)).length === 0, 'reset: messages left');

  const rate = await requestsPerSecond(port, 6000, 16);
  console.log(`throughput: ${Math.round(rate)} signed deliveries/s over keep-alive`);
  check(rate >= 2000, `throughput ${Math.round(rate)}/s is below 2000/s`);
  check((await messages(base)).length === 6000, 'load: not every delivery recorded');
} catch (error) {
  failures.push(`threw: ${error.stack}`);
} finally {
  child.removeAllListeners('exit');
  child.kill('SIGTERM');
  fs.rmSync(workDir, { recursive: true, force: true });
}

if (failures.length > 0) {
  failures.forEach((failure) => console.log(`FAIL: ${failure}`));
  process.exit(1);
}
console.log('PASS: webhook receiver');
