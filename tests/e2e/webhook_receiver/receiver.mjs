// A webhook endpoint for Warden's delivery tests: it verifies each POST with
// the Standard Webhooks reference library (the npm `standardwebhooks`
// package), so the tests check Warden's signatures against an implementation
// that is not Warden's own. It records every request and answers as the test
// programs it (forced statuses, delays), so retries and backoff can be seen.
//
//   node receiver.mjs --port 0 --secret-file PATH
//
// prints one line, `listening <port>`, then serves on 127.0.0.1:
//   POST <any path>   a delivery: recorded, 400 when no secret verifies it
//   GET  /messages    the recorded deliveries, a JSON array (?since=K: index >= K)
//   POST /control     {"fail_next": N, "status": S} | {"delay_ms": D} | {"reset": true}
//
// State lives in memory only: a restarted receiver starts with no messages.

import fs from 'node:fs';
import http from 'node:http';
import { Webhook } from 'standardwebhooks';

function argument(name, fallback) {
  const at = process.argv.indexOf(name);
  return at > 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

const port = Number(argument('--port', '0'));
const secretFile = argument('--secret-file', '');

let messages = [];
let forcedStatuses = []; // what the next verified deliveries answer, in order
let delayMs = 0;

// Read on every request: a test writes the secret only after it has created
// the webhook in Warden, and rewrites it to rotate. One secret a line.
function readSecrets() {
  try {
    const lines = fs.readFileSync(secretFile, 'utf8').split('\n');
    return lines.map((line) => line.trim()).filter(Boolean);
  } catch {
    return [];
  }
}

// '' when any listed secret verifies the delivery, else why none did. During
// a rotation the file lists both secrets, as a real receiver would.
function verificationError(body, headers) {
  const secrets = readSecrets();
  if (secrets.length === 0) return `no secret in ${secretFile}`;
  const errors = [];
  for (const secret of secrets) {
    try {
      new Webhook(secret).verify(body, headers, { jsonParse: false });
      return '';
    } catch (error) {
      errors.push(error.message);
    }
  }
  return errors.join('; ');
}

function parseJson(buffer) {
  try {
    return JSON.parse(buffer.toString('utf8'));
  } catch {
    return null;
  }
}

function answer(response, status, text, type = 'text/plain') {
  response.writeHead(status, { 'content-type': type });
  response.end(text);
}

function control(request) {
  if (request.reset) {
    messages = [];
    forcedStatuses = [];
    delayMs = 0;
  }
  if (request.fail_next) {
    forcedStatuses.push(...Array(request.fail_next).fill(request.status ?? 500));
  }
  if (request.delay_ms !== undefined) delayMs = request.delay_ms;
}

function deliver(path, headers, body, response) {
  const error = verificationError(body, headers);
  const parsed = parseJson(body);
  // A delivery that fails verification must not use up a forced answer: the
  // test programmed those for deliveries Warden signed correctly.
  const status = error ? 400 : (forcedStatuses.shift() ?? 200);
  messages.push({
    path,
    id: headers['webhook-id'] ?? '',
    timestamp: Number(headers['webhook-timestamp'] ?? NaN) || null,
    signature: headers['webhook-signature'] ?? '',
    verified: !error,
    error,
    type: parsed?.type ?? '',
    body: parsed,
    status,
    received_at_ms: Date.now(),
  });
  const reply = () => answer(response, status, error ? `${error}\n` : 'ok\n');
  if (delayMs > 0) setTimeout(reply, delayMs);
  else reply();
}

const server = http.createServer((request, response) => {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    const url = new URL(request.url, 'http://receiver');
    const body = Buffer.concat(chunks);
    if (request.method === 'GET' && url.pathname === '/messages') {
      const since = Number(url.searchParams.get('since') ?? 0);
      answer(response, 200, JSON.stringify(messages.slice(since)), 'application/json');
    } else if (request.method === 'POST' && url.pathname === '/control') {
      const parsed = parseJson(body);
      if (parsed === null) return answer(response, 400, 'control wants a JSON object\n');
      control(parsed);
      answer(response, 200, 'ok\n');
    } else if (request.method === 'POST') {
      deliver(url.pathname, request.headers, body, response);
    } else {
      answer(response, 404, 'not found\n');
    }
  });
});

// Warden keeps its connections open between deliveries; a short idle timeout
// here would make its sends race the close.
server.keepAliveTimeout = 30_000;
server.headersTimeout = 31_000;

server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
