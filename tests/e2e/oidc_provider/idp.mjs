// A real OpenID Provider for Warden's single sign-on tests: the npm
// `oidc-provider` package (an OpenID-certified implementation that is not
// Warden's), served over HTTPS on 127.0.0.1, so the tests check Warden's
// relying party against someone else's reading of the specifications.
//
//   node idp.mjs --port N --cert server.crt --key server.key --keys keys.json
//                --client-secret-file F [--client-jwks FILE]
//                --redirect URI [--redirect URI ...]
//                [--id-token-alg RS256|ES256|EdDSA] [--device-interval S]
//                [--device-code-ttl S]
//
// prints one line, {"issuer":"https://127.0.0.1:PORT","port":PORT}, when it
// serves; everything else goes to stderr. README.md is the full contract.

import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';
import { parseArguments } from './agent.mjs';

// oidc-provider prints its development notices with console.info, which
// would land on stdout next to the one line a test reads.
console.info = console.error;
console.log = console.error;

function fail(message) {
  process.stderr.write(`idp.mjs: ${message}\n`);
  process.exit(2);
}

let options;
try {
  options = parseArguments(process.argv.slice(2), { repeatable: ['redirect'] });
} catch (error) {
  fail(error.message);
}
const known = ['port', 'cert', 'key', 'keys', 'client-secret-file', 'client-jwks', 'redirect',
  'id-token-alg', 'device-interval', 'device-code-ttl'];
for (const name of Object.keys(options)) if (!known.includes(name)) fail(`unknown option --${name}`);
for (const name of ['port', 'cert', 'key', 'keys', 'client-secret-file']) {
  if (options[name] === undefined) fail(`--${name} is required`);
}
if (options.redirect.length === 0) fail('give at least one --redirect');

const idTokenAlg = options['id-token-alg'] ?? 'RS256';
// RFC 8628 lets the provider say how often to poll; oidc-provider leaves
// `interval` out (clients then wait 5 s), which would make every device test
// slow. 0 keeps the library's own answer, without the field.
const deviceInterval = Number(options['device-interval'] ?? 1);
const deviceCodeTtl = Number(options['device-code-ttl'] ?? 600);

const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));
const signingKeys = readJson(options.keys);
if (!signingKeys.keys?.some((key) => key.alg === idTokenAlg)) {
  fail(`${options.keys} has no key with alg ${idTokenAlg} for --id-token-alg`);
}
// The file holds the secret so it stays out of process listings; a trailing
// newline from `echo` is not part of it.
const clientSecret = fs.readFileSync(options['client-secret-file'], 'utf8').replace(/\r?\n$/, '');

// Loopback redirect URIs with any port (RFC 8252 section 7.3): a native
// client listens on whatever port it got, so a registered
// http://127.0.0.1:PORT/path matches the same URI with another port.
// oidc-provider does that only for clients with application_type "native",
// which would also force a consent prompt on every login and forbid https
// redirects to 127.0.0.1, so Warden's client stays "web" and gets the rule
// here. Only the port may differ: scheme http, same loopback host, same
// path and query.
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);
function withoutLoopbackPort(uri) {
  const url = URL.parse(uri);
  if (!url || url.protocol !== 'http:' || !LOOPBACK_HOSTS.has(url.hostname)) return undefined;
  if (url.username || url.password || url.hash) return undefined;
  url.port = '';
  return url.href;
}

// Accounts: any login, any password. oidc-provider takes the subject from
// the account id, and devInteractions makes the typed login the account id;
// the provider below prefixes it, so the subject ("sub-alice") differs from
// the login ("alice") and a test can tell which of the two Warden used.
const SUBJECT_PREFIX = 'sub-';
function claimsFor(login) {
  let groups = ['vpn-users'];
  if (login.startsWith('contractor')) groups = ['contractors'];
  else if (login.startsWith('ops')) groups = ['vpn-users', 'ops'];
  else if (login.startsWith('nogroups')) groups = [];
  return {
    email: `${login}@example.test`,
    email_verified: true,
    preferred_username: login,
    name: `Test ${login}`,
    groups,
  };
}

const clientDefaults = {
  redirect_uris: options.redirect,
  grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
  response_types: ['code'],
  id_token_signed_response_alg: idTokenAlg,
};
const clients = [{
  ...clientDefaults,
  client_id: 'warden',
  client_secret: clientSecret,
  // oidc-provider allows one authentication method per client.
  token_endpoint_auth_method: 'client_secret_basic',
}];
if (options['client-jwks']) {
  clients.push({
    ...clientDefaults,
    client_id: 'warden-pkjwt',
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: readJson(options['client-jwks']),
  });
}

function configuration() {
  return {
    clients,
    jwks: signingKeys,
    // Per run: nothing a browser kept from an earlier run is honoured.
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    // The scopes' claims go in the ID token itself, not only in userinfo,
    // as the identity providers Warden meets in practice do.
    conformIdTokenClaims: false,
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['preferred_username', 'name'],
      groups: ['groups'],
    },
    features: {
      devInteractions: { enabled: true }, // its own login and consent pages
      deviceFlow: { enabled: true },
    },
    pkce: { required: () => true }, // S256 is the only method it supports
    ttl: { DeviceCode: deviceCodeTtl },
    findAccount: async (ctx, accountId) => {
      if (!accountId.startsWith(SUBJECT_PREFIX)) return undefined;
      const login = accountId.slice(SUBJECT_PREFIX.length);
      return { accountId, claims: async () => ({ sub: accountId, ...claimsFor(login) }) };
    },
  };
}

// The issuer names the real port, so the provider is made after the server
// listens (--port 0); until then no request can arrive.
let handler = (request, response) => {
  response.writeHead(503);
  response.end();
};
const server = https.createServer({
  cert: fs.readFileSync(options.cert),
  key: fs.readFileSync(options.key),
}, (request, response) => handler(request, response));

server.on('error', (error) => fail(`cannot serve on port ${options.port}: ${error.message}`));
server.listen(Number(options.port), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `https://127.0.0.1:${port}`;
  const provider = new Provider(issuer, configuration());

  const registeredRedirectAllowed = provider.Client.prototype.redirectUriAllowed;
  provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(uri) {
    if (registeredRedirectAllowed.call(this, uri)) return true;
    const presented = withoutLoopbackPort(uri);
    return presented !== undefined && this.redirectUris.some((registered) => withoutLoopbackPort(registered) === presented);
  };

  // devInteractions ends the login step with { login: { accountId: <typed
  // login> } }; the session, grant and tokens then carry the prefixed id.
  const interactionFinished = provider.interactionFinished.bind(provider);
  provider.interactionFinished = (request, response, result, finishOptions) => {
    const login = result.login && { ...result.login, accountId: SUBJECT_PREFIX + result.login.accountId };
    return interactionFinished(request, response, login ? { ...result, login } : result, finishOptions);
  };

  // The announced interval (see deviceInterval) is advice only: the library
  // never answers slow_down, however fast a client polls.
  provider.use(async (ctx, next) => {
    await next();
    if (deviceInterval > 0 && ctx.oidc?.route === 'device_authorization' && ctx.status === 200 && ctx.body?.device_code) {
      ctx.body.interval = deviceInterval;
    }
  });

  // What went wrong, for whoever reads a failed test's log.
  for (const event of ['authorization.error', 'grant.error', 'device_authorization.error',
    'code_verification.error', 'device_resume.error', 'userinfo.error', 'introspection.error',
    'revocation.error', 'end_session.error', 'jwks.error', 'discovery.error']) {
    provider.on(event, (ctx, error) => {
      // error_detail says which check failed, e.g. "authorization code
      // redirect_uri mismatch" behind a bare invalid_grant.
      const detail = error.error_detail ? ` (${error.error_detail})` : '';
      process.stderr.write(`idp: ${event}: ${error.error ?? error.name}: ${error.error_description ?? error.message}${detail}\n`);
    });
  }
  provider.on('server_error', (ctx, error) => process.stderr.write(`idp: server_error: ${error.stack}\n`));

  handler = provider.callback();
  process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
});

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections(); // keep-alive clients would hold close() open
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
