// Makes signing keys for idp.mjs (its --keys file) and for the
// private_key_jwt client (the --client-jwks file), so a test can rotate the
// provider's key or pick the ID token algorithm without shipping keys in the
// repository.
//
//   node keys.mjs --alg RS256|ES256|EdDSA --kid KID [--alg ... --kid ...]
//   node keys.mjs --public [--in PRIVATE_JWKS_FILE]
//
// The first prints a new private JSON Web Key Set, {"keys": [...]}, the keys
// in the order given, each with kid, alg and use "sig" (the provider's --keys
// file, or a client's own signing keys). The second prints the public halves
// of an existing private set read from the file or stdin (what the provider
// is told about a client, --client-jwks): public keys are derived rather than
// generated because the client must hold the private keys that match.

import crypto from 'node:crypto';
import fs from 'node:fs';

// The key shape each JWS algorithm needs.
const KINDS = {
  RS256: ['rsa', { modulusLength: 2048 }],
  ES256: ['ec', { namedCurve: 'P-256' }],
  EdDSA: ['ed25519', {}],
};

function fail(message) {
  process.stderr.write(`keys.mjs: ${message}\n`);
  process.exit(2);
}

// The private members of each key type; dropping them leaves the public key.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'];
function publicHalf(jwk) {
  return Object.fromEntries(Object.entries(jwk).filter(([name]) => !PRIVATE_MEMBERS.includes(name)));
}

const args = process.argv.slice(2);
const algs = [];
const kids = [];
let publicOnly = false;
let input = '';
for (let i = 0; i < args.length; i++) {
  const value = args[i + 1];
  switch (args[i]) {
    case '--alg': algs.push(value); i++; break;
    case '--kid': kids.push(value); i++; break;
    case '--public': publicOnly = true; break;
    case '--in': input = value; i++; break;
    default: fail(`unknown argument ${args[i]}`);
  }
}

let keys;
if (publicOnly) {
  if (algs.length || kids.length) fail('--public derives from an existing private set (--in FILE or stdin), it does not generate keys');
  keys = JSON.parse(fs.readFileSync(input || 0, 'utf8')).keys.map(publicHalf);
} else {
  if (algs.length === 0 || algs.length !== kids.length) fail('give --alg and --kid in pairs, at least one pair');
  keys = algs.map((alg, index) => {
    if (!KINDS[alg]) fail(`unsupported --alg ${alg} (RS256, ES256 or EdDSA)`);
    const [type, options] = KINDS[alg];
    const { privateKey } = crypto.generateKeyPairSync(type, options);
    const jwk = { ...privateKey.export({ format: 'jwk' }), kid: kids[index], alg, use: 'sig' };
    return jwk;
  });
}
process.stdout.write(`${JSON.stringify({ keys })}\n`);
