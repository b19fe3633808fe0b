// Checks the rig on its own, before any Warden test relies on it: this
// script plays the relying party Warden will be (it builds authorization
// URLs, exchanges codes, polls for device codes, verifies ID token
// signatures against the JWKS) and drives idp.mjs with login.mjs and
// device.mjs exactly as the C++ tests will, certificates from a throwaway
// CA made with the openssl command included.
//
//   node selftest.mjs        exit 0 and PASS, or FAIL lines and exit 1

import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oidc-provider-'));
const file = (name) => path.join(workDir, name);
const started = performance.now();

const failures = [];
function check(condition, what) {
  if (!condition) failures.push(what);
  return condition;
}

// A CA and a server certificate for 127.0.0.1 and localhost, as the C++
// tests make theirs; the children trust the CA through NODE_EXTRA_CA_CERTS.
function makeCertificates() {
  const openssl = (...args) => execFileSync('openssl', args, { cwd: workDir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=oidc selftest CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  fs.writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'server.crt', '-days', '1', '-extfile', 'server.ext');
}
makeCertificates();
const ca = fs.readFileSync(file('ca.crt'));
const childEnv = { ...process.env, NODE_EXTRA_CA_CERTS: file('ca.crt') };

// Runs one of the rig's programs to completion: { code, stdout, stderr }.
function run(script, args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(here, script), ...args], { env: childEnv });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data) => { stdout += data; });
    child.stderr.on('data', (data) => { stderr += data; });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
const keysJson = async (...args) => (await run('keys.mjs', args)).stdout;

// This process cannot take NODE_EXTRA_CA_CERTS after it started, so its own
// calls name the CA: { status, json, text }.
function call(url, { method = 'GET', form, headers = {} } = {}) {
  const body = form ? new URLSearchParams(form).toString() : undefined;
  if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
  return new Promise((resolve, reject) => {
    const request = https.request(url, { method, headers, ca }, (response) => {
      let text = '';
      response.on('data', (data) => { text += data; });
      response.on('end', () => {
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: response.statusCode, json, text });
      });
    });
    request.on('error', reject);
    request.end(body);
  });
}

// Characters that HTTP Basic must form-encode (RFC 6749 section 2.3.1).
const clientSecret = 'selftest secret+/%: not a real one';
fs.writeFileSync(file('client-secret'), `${clientSecret}\n`); // the trailing newline is not part of it
const formEncode = (value) => new URLSearchParams({ v: value }).toString().slice(2);
const basic = { authorization: `Basic ${Buffer.from(`warden:${formEncode(clientSecret)}`).toString('base64')}` };

// The provider's idea of the client's keys is the public half of a pair
// only this script holds.
fs.writeFileSync(file('client-private.jwks'), await keysJson('--alg', 'ES256', '--kid', 'client-1'));
fs.writeFileSync(file('client-public.jwks'), await keysJson('--public', '--in', file('client-private.jwks')));
const clientKey = JSON.parse(fs.readFileSync(file('client-private.jwks'), 'utf8')).keys[0];
check(!('d' in JSON.parse(fs.readFileSync(file('client-public.jwks'), 'utf8')).keys[0]), 'keys.mjs --public kept the private part');

const registeredRedirect = 'http://127.0.0.1:8765/cb';

// Starts idp.mjs; resolves once it printed its line: { child, issuer, port }.
function startProvider(port, extra = []) {
  const args = ['--port', String(port), '--cert', file('server.crt'), '--key', file('server.key'),
    '--keys', file('keys.json'), '--client-secret-file', file('client-secret'),
    '--client-jwks', file('client-public.jwks'),
    '--redirect', registeredRedirect, '--redirect', 'https://warden.example.test/oidc/callback', ...extra];
  const child = spawn(process.execPath, [path.join(here, 'idp.mjs'), ...args], {
    env: childEnv, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (data) => { stderr += data; });
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (data) => {
      output += data;
      if (!output.endsWith('\n')) return;
      const { issuer, port: listening } = JSON.parse(output.split('\n')[0]);
      resolve({ child, issuer, port: listening, stdout: () => output, stderr: () => stderr });
    });
    child.on('exit', (code) => reject(new Error(`idp.mjs exited with ${code}: ${stderr}`)));
  });
}

// Stops it the way the C++ tests will; resolves with the exit code.
function stopProvider({ child, stdout }) {
  child.removeAllListeners('exit');
  check(stdout().split('\n').length === 2, `idp.mjs printed more than its one line: ${stdout()}`);
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? child.signalCode);
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? signal));
    child.kill('SIGTERM');
  });
}

const decodePart = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

// Verifies a JWS compact token against the provider's JWKS, as Warden must:
// the key by kid, the algorithm from the key, not from the token alone.
async function verifiedIdToken(token, discovery) {
  const [headerPart, payloadPart, signaturePart] = token.split('.');
  const header = decodePart(headerPart);
  const jwks = (await call(discovery.jwks_uri)).json;
  const jwk = jwks.keys.find((key) => key.kid === header.kid);
  if (!check(jwk !== undefined, `no key ${header.kid} in the JWKS`)) return { header, claims: decodePart(payloadPart) };
  check(jwk.alg === header.alg, `token alg ${header.alg}, key alg ${jwk.alg}`);
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const data = Buffer.from(`${headerPart}.${payloadPart}`);
  const signature = Buffer.from(signaturePart, 'base64url');
  const verified = header.alg === 'EdDSA'
    ? crypto.verify(null, data, key, signature)
    : crypto.verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
  check(verified, `ID token signature (${header.alg}, kid ${header.kid}) does not verify`);
  return { header, claims: decodePart(payloadPart), jwks };
}

function authorizationRequest(discovery, { clientId = 'warden', redirect, scope = 'openid email profile groups', extra = {} }) {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const request = {
    verifier,
    state: crypto.randomBytes(12).toString('base64url'),
    nonce: crypto.randomBytes(12).toString('base64url'),
  };
  const query = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    scope,
    redirect_uri: redirect,
    state: request.state,
    nonce: request.nonce,
    code_challenge: crypto.createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    ...extra,
  });
  for (const [name, value] of Object.entries(extra)) if (value === undefined) query.delete(name);
  request.url = `${discovery.authorization_endpoint}?${query}`;
  return request;
}

async function login(url, name, prefix, ...flags) {
  const result = await run('login.mjs', ['--url', url, '--login', name, '--redirect-prefix', prefix, ...flags]);
  let json;
  try { json = JSON.parse(result.stdout); } catch { json = undefined; }
  return { ...result, json };
}

// Authorization code flow for `name` with client `warden`; the checked ID
// token claims, header and token response.
async function codeFlow(discovery, name, redirect, { scope, extra, flags = [] } = {}) {
  const request = authorizationRequest(discovery, { redirect, scope, extra });
  const result = await login(request.url, name, redirect, ...flags);
  if (!check(result.code === 0 && result.json?.code, `login.mjs for ${name}: ${result.code} ${result.stdout} ${result.stderr}`)) return {};
  check(result.json.state === request.state, 'state came back changed');
  check(result.json.iss === discovery.issuer, `authorization response iss ${result.json.iss}`);
  const tokens = await call(discovery.token_endpoint, {
    method: 'POST',
    headers: { ...basic },
    form: { grant_type: 'authorization_code', code: result.json.code, redirect_uri: redirect, code_verifier: request.verifier },
  });
  if (!check(tokens.status === 200 && tokens.json?.id_token, `code exchange: ${tokens.status} ${tokens.text}`)) return {};
  const idToken = await verifiedIdToken(tokens.json.id_token, discovery);
  check(idToken.claims.nonce === request.nonce, 'nonce not echoed');
  check(idToken.claims.iss === discovery.issuer && idToken.claims.aud === 'warden', `iss/aud ${idToken.claims.iss} ${idToken.claims.aud}`);
  return { ...idToken, tokens: tokens.json, login: result.json, request };
}

// RFC 8628 polling: wait `interval` (5 s when absent) between polls, 5 s
// more after slow_down, until something other than authorization_pending.
async function pollDeviceCode(poll, interval) {
  let wait = (interval ?? 5) * 1000;
  const polls = [];
  for (;;) {
    await new Promise((resolve) => { setTimeout(resolve, wait); });
    const answer = await poll();
    polls.push(answer.json?.error ?? answer.status);
    if (answer.json?.error === 'slow_down') wait += 5000;
    else if (answer.json?.error !== 'authorization_pending') return { answer, polls };
  }
}

async function deviceFlow(discovery, name, ...flags) {
  const authorization = await call(discovery.device_authorization_endpoint, {
    method: 'POST', headers: { ...basic }, form: { scope: 'openid email profile groups' },
  });
  const body = authorization.json ?? {};
  check(authorization.status === 200 && body.device_code && body.user_code, `device authorization: ${authorization.text}`);
  check(body.interval === 1, `device authorization interval ${body.interval}`);
  check(body.expires_in === 600, `device code expires_in ${body.expires_in}`);
  check(body.verification_uri === `${discovery.issuer}/device`, `verification_uri ${body.verification_uri}`);
  const poll = () => call(discovery.token_endpoint, {
    method: 'POST', headers: { ...basic },
    form: { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: body.device_code },
  });
  const early = await poll();
  check(early.status === 400 && early.json?.error === 'authorization_pending', `poll before the person acted: ${early.text}`);
  // The person acts while this polls, as in Warden's tests.
  const person = run('device.mjs', ['--verification-uri', body.verification_uri, '--user-code', body.user_code, '--login', name, ...flags]);
  const [result, polled] = await Promise.all([person, pollDeviceCode(poll, body.interval)]);
  return { result, ...polled };
}

// Stands in for Warden's callback so login.mjs --follow has something to GET.
const callback = http.createServer((request, response) => {
  response.writeHead(200, { 'content-type': 'text/plain' });
  response.end(`callback got ${request.url}`);
});
await new Promise((resolve) => { callback.listen(0, '127.0.0.1', resolve); });
const callbackRedirect = `http://127.0.0.1:${callback.address().port}/cb`; // registered with port 8765

fs.writeFileSync(file('keys.json'), await keysJson('--alg', 'RS256', '--kid', 'k1'));
let provider = await startProvider(0);
const { port } = provider;
try {
  check(provider.issuer === `https://127.0.0.1:${port}` && port > 0, `issuer ${provider.issuer}`);
  const discovery = (await call(`${provider.issuer}/.well-known/openid-configuration`)).json;
  check(discovery.issuer === provider.issuer, 'discovery issuer');
  check(discovery.device_authorization_endpoint === `${provider.issuer}/device/auth`, 'device authorization endpoint');

  // Code flow + PKCE, redirect to a loopback port that was not registered
  // (RFC 8252), refresh token through offline_access + prompt=consent, and
  // the callback followed.
  const alice = await codeFlow(discovery, 'alice', callbackRedirect, {
    scope: 'openid email profile groups offline_access', extra: { prompt: 'consent' }, flags: ['--follow'],
  });
  if (alice.claims) {
    const { claims, header } = alice;
    check(header.alg === 'RS256' && header.kid === 'k1', `alice: header ${JSON.stringify(header)}`);
    check(claims.sub === 'sub-alice' && claims.preferred_username === 'alice', `alice: sub ${claims.sub}`);
    check(claims.email === 'alice@example.test' && claims.email_verified === true, 'alice: email');
    check(claims.name === 'Test alice', `alice: name ${claims.name}`);
    check(JSON.stringify(claims.groups) === '["vpn-users"]', `alice: groups ${JSON.stringify(claims.groups)}`);
    check(alice.login.followed_status === 200 && alice.login.followed_body.startsWith('callback got /cb?code='),
      `--follow: ${alice.login.followed_status} ${alice.login.followed_body}`);
    check(typeof alice.tokens.refresh_token === 'string', 'no refresh token for offline_access');
    const refreshed = await call(discovery.token_endpoint, {
      method: 'POST', headers: { ...basic }, form: { grant_type: 'refresh_token', refresh_token: alice.tokens.refresh_token },
    });
    check(refreshed.status === 200 && decodePart(refreshed.json.id_token.split('.')[1]).sub === 'sub-alice', `refresh: ${refreshed.text}`);
    const again = await call(discovery.token_endpoint, {
      method: 'POST', headers: { ...basic },
      form: { grant_type: 'authorization_code', code: alice.login.code, redirect_uri: callbackRedirect, code_verifier: alice.request.verifier },
    });
    check(again.json?.error === 'invalid_grant', `code used twice: ${again.text}`);
  }

  // The groups rules.
  for (const [name, groups] of [['contractor-eve', '["contractors"]'], ['ops-olga', '["vpn-users","ops"]'], ['nogroups-nick', '[]']]) {
    const flow = await codeFlow(discovery, name, registeredRedirect);
    check(JSON.stringify(flow.claims?.groups) === groups, `${name}: groups ${JSON.stringify(flow.claims?.groups)}`);
  }

  // What the provider refuses.
  const badPath = authorizationRequest(discovery, { redirect: 'http://127.0.0.1:8765/other' });
  const refused = await login(badPath.url, 'alice', 'http://127.0.0.1:8765/');
  check(refused.code === 1 && refused.stderr.includes('invalid_redirect_uri'), `unregistered path: ${refused.code} ${refused.stderr}`);
  const noPkce = authorizationRequest(discovery, { redirect: registeredRedirect, extra: { code_challenge: undefined, code_challenge_method: undefined } });
  const withoutPkce = await login(noPkce.url, 'alice', registeredRedirect);
  check(withoutPkce.json?.error === 'invalid_request', `no PKCE: ${withoutPkce.stdout}`);
  const denied = await login(authorizationRequest(discovery, { redirect: registeredRedirect }).url, 'alice', registeredRedirect, '--deny');
  check(denied.code === 0 && denied.json?.error === 'access_denied' && denied.json.code === '', `--deny: ${denied.stdout} ${denied.stderr}`);
  // oidc-provider takes the secret in the body too (client_secret_post) from
  // a client registered for client_secret_basic: the made-up refresh token
  // is what fails then, not the client.
  const postSecret = (secret) => call(discovery.token_endpoint, {
    method: 'POST', form: { grant_type: 'refresh_token', refresh_token: 'made-up', client_id: 'warden', client_secret: secret },
  });
  const posted = await postSecret(clientSecret);
  check(posted.json?.error === 'invalid_grant', `client_secret_post: ${posted.text}`);
  const wrongSecret = await postSecret('wrong');
  check(wrongSecret.json?.error === 'invalid_client', `wrong secret: ${wrongSecret.text}`);

  // Device flow, the person logging in while this polls; then denied.
  const device = await deviceFlow(discovery, 'ops-dave');
  check(device.result.code === 0 && device.result.stdout.trim() === '{"ok":true}', `device.mjs: ${device.result.stdout} ${device.result.stderr}`);
  if (check(device.answer.json?.id_token, `device token: ${device.answer.text}`)) {
    const { claims } = await verifiedIdToken(device.answer.json.id_token, discovery);
    check(claims.sub === 'sub-ops-dave' && JSON.stringify(claims.groups) === '["vpn-users","ops"]', `device claims ${JSON.stringify(claims)}`);
  }
  const refusedDevice = await deviceFlow(discovery, 'bob', '--deny');
  check(refusedDevice.result.code === 0 && refusedDevice.result.stdout.trim() === '{"ok":true,"denied":true}', `device.mjs --deny: ${refusedDevice.result.stdout}`);
  check(refusedDevice.answer.json?.error === 'access_denied', `denied device token: ${refusedDevice.answer.text}`);
  const wrongCode = await run('device.mjs', ['--verification-uri', `${provider.issuer}/device`, '--user-code', 'BCDF-GHJK', '--login', 'bob']);
  check(wrongCode.code === 1 && JSON.parse(wrongCode.stdout).ok === false, `unknown user code: ${wrongCode.stdout}`);

  // private_key_jwt: the client proves itself with an ES256 assertion.
  const pkjwt = authorizationRequest(discovery, { clientId: 'warden-pkjwt', redirect: registeredRedirect });
  const pkjwtLogin = await login(pkjwt.url, 'carol', registeredRedirect);
  const assertionHeader = Buffer.from(JSON.stringify({ alg: 'ES256', kid: clientKey.kid, typ: 'JWT' })).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const assertionClaims = Buffer.from(JSON.stringify({
    iss: 'warden-pkjwt', sub: 'warden-pkjwt', aud: discovery.issuer, jti: crypto.randomUUID(), iat: now, exp: now + 60,
  })).toString('base64url');
  const assertionSignature = crypto.sign('sha256', Buffer.from(`${assertionHeader}.${assertionClaims}`),
    { key: crypto.createPrivateKey({ key: clientKey, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }).toString('base64url');
  const pkjwtTokens = await call(discovery.token_endpoint, {
    method: 'POST',
    form: {
      grant_type: 'authorization_code', code: pkjwtLogin.json?.code ?? '', redirect_uri: registeredRedirect, code_verifier: pkjwt.verifier,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: `${assertionHeader}.${assertionClaims}.${assertionSignature}`,
    },
  });
  if (check(pkjwtTokens.json?.id_token, `private_key_jwt exchange: ${pkjwtTokens.text}`)) {
    const { claims } = await verifiedIdToken(pkjwtTokens.json.id_token, discovery);
    check(claims.aud === 'warden-pkjwt' && claims.sub === 'sub-carol', `private_key_jwt claims ${claims.aud} ${claims.sub}`);
  }

  // Key rotation: stop, new key first in the file, start on the same port.
  check((await stopProvider(provider)) === 0, 'idp.mjs did not exit 0 on SIGTERM');
  fs.writeFileSync(file('keys.json'), JSON.stringify({
    keys: [...JSON.parse(await keysJson('--alg', 'RS256', '--kid', 'k2')).keys, ...JSON.parse(fs.readFileSync(file('keys.json'), 'utf8')).keys],
  }));
  provider = await startProvider(port);
  check(provider.issuer === discovery.issuer, `restart changed the issuer to ${provider.issuer}`);
  const rotated = await codeFlow(discovery, 'alice', registeredRedirect);
  check(rotated.header?.kid === 'k2', `after rotation the ID token has kid ${rotated.header?.kid}`);
  const kids = rotated.jwks?.keys.map((key) => key.kid).join(',');
  check(kids === 'k2,k1', `after rotation the JWKS lists ${kids}`);

  // The other two algorithms, each by restarting with --id-token-alg.
  const all = JSON.parse(fs.readFileSync(file('keys.json'), 'utf8')).keys;
  fs.writeFileSync(file('keys.json'), JSON.stringify({
    keys: [...JSON.parse(await keysJson('--alg', 'ES256', '--kid', 'e1', '--alg', 'EdDSA', '--kid', 'o1')).keys, ...all],
  }));
  for (const [alg, kid] of [['ES256', 'e1'], ['EdDSA', 'o1']]) {
    await stopProvider(provider);
    provider = await startProvider(port, ['--id-token-alg', alg]);
    const flow = await codeFlow(discovery, 'alice', registeredRedirect);
    check(flow.header?.alg === alg && flow.header?.kid === kid, `--id-token-alg ${alg}: header ${JSON.stringify(flow.header)}`);
  }
} catch (error) {
  failures.push(`threw: ${error.stack}`);
} finally {
  const exitCode = await stopProvider(provider);
  check(exitCode === 0, `idp.mjs exited ${exitCode} on SIGTERM`);
  callback.close();
  if (failures.length > 0) process.stdout.write(`idp.mjs stderr:\n${provider.stderr()}\n`);
  fs.rmSync(workDir, { recursive: true, force: true });
}

if (failures.length > 0) {
  failures.forEach((failure) => console.log(`FAIL: ${failure}`));
  process.exit(1);
}
console.log(`PASS: OpenID Provider rig (${((performance.now() - started) / 1000).toFixed(1)} s)`);
