// A real WebSocket client (the npm `ws` package) against warden-control's
// signalling bridge. Usage:
//   node ws_client_test.mjs <ws url> <API key> <room id> <gRPC member key, base64>
// The room was made by a gRPC client, which relays "hello from grpc" once it
// sees this client join. Exits 0 when every step held, 1 (saying which
// step) otherwise.

import crypto from 'node:crypto';
import WebSocket from 'ws';

const [url, apiKey, roomId, grpcMemberKey] = process.argv.slice(2);
const b64 = (text) => Buffer.from(text).toString('base64');
let step = 'start';

function fail(message) {
  console.error(`FAIL at ${step}: ${message}`);
  process.exit(1);
}
setTimeout(() => fail('timed out'), 30000).unref();

// One client: its key, its socket, and the events it has not consumed yet.
class Client {
  constructor(name, headers) {
    this.name = name;
    const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
    this.privateKey = privateKey;
    this.key = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url').toString('base64');
    this.events = [];
    this.waiters = [];
    this.nextId = 1;
    this.closed = null;
    this.socket = new WebSocket(url, { headers });
    this.socket.on('message', (data) => {
      this.events.push(JSON.parse(data.toString()));
      this.wake();
    });
    this.socket.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
    this.socket.on('error', (error) => fail(`${name}: socket error ${error.message}`));
  }
  wake() {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((wake) => wake());
  }
  opened() {
    return new Promise((resolve) => this.socket.once('open', resolve));
  }
  // The first event (consumed) for which `match` holds.
  async next(match, what) {
    const deadline = Date.now() + 10000;
    for (;;) {
      const index = this.events.findIndex(match);
      if (index >= 0) return this.events.splice(index, 1)[0];
      if (this.closed) fail(`${this.name}: closed (${this.closed.code}) while waiting for ${what}`);
      if (Date.now() > deadline) fail(`${this.name}: no ${what}`);
      await new Promise((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }
  // Sends a request and returns its answer (the event carrying its id).
  async call(request) {
    const requestId = String(this.nextId++);
    this.socket.send(JSON.stringify({ requestId, ...request }));
    return this.next((event) => event.requestId === requestId, `answer to ${requestId}`);
  }
  async identify() {
    const challenge = await this.next((event) => event.challenge, 'challenge');
    const signed = Buffer.concat([
      Buffer.from(challenge.challenge.context),
      Buffer.from(challenge.challenge.nonce, 'base64'),
    ]);
    const signature = crypto.sign(null, signed, this.privateKey).toString('base64');
    const answer = await this.call({ identify: { publicKey: this.key, signature } });
    if (!answer.identified || answer.identified.member !== this.key) {
      fail(`${this.name}: not identified: ${JSON.stringify(answer)}`);
    }
  }
}

function expectError(answer, code) {
  if (!answer.error || answer.error.code !== code) {
    fail(`expected ${code}, got ${JSON.stringify(answer)}`);
  }
}

step = 'connect with a bearer header and identify';
const ws = new Client('ws', { Authorization: `Bearer ${apiKey}` });
await ws.opened();
await ws.identify();

step = 'a frame that is not JSON gets an error, and the stream goes on';
ws.socket.send('this is not json');
const garbage = await ws.next((event) => event.error, 'error for garbage');
if (garbage.error.code !== 'INVALID_ARGUMENT') fail(JSON.stringify(garbage));

step = 'join the gRPC client\'s room';
const joined = await ws.call({ joinRoom: { roomId } });
if (!joined.room || !joined.room.members.some((member) => member.key === grpcMemberKey)) {
  fail(`room state without the gRPC member: ${JSON.stringify(joined)}`);
}

step = 'relay to the gRPC member, and hear its relay';
const ack = await ws.call({
  relay: { roomId, to: grpcMemberKey, payload: b64('hello from websocket') },
});
if (!ack.ack || ack.ack.delivered !== 1) fail(JSON.stringify(ack));
const fromGrpc = await ws.next((event) => event.relayed, 'relay from the gRPC member');
if (Buffer.from(fromGrpc.relayed.payload, 'base64').toString() !== 'hello from grpc' ||
    fromGrpc.relayed.from !== grpcMemberKey) {
  fail(JSON.stringify(fromGrpc));
}

step = 'authenticate by message (no header), create a room with a password';
const owner = new Client('owner', {});
await owner.opened();
owner.socket.send(JSON.stringify({ authenticate: { token: apiKey } }));
await owner.identify();
const created = await owner.call({ createRoom: { name: 'ws room', password: 'pw', maxClients: 4 } });
if (!created.room || created.room.name !== 'ws room' || !created.room.hasPassword) {
  fail(JSON.stringify(created));
}
const wsRoom = created.room.roomId;

step = 'wrong password, then the right one';
expectError(await ws.call({ joinRoom: { roomId: wsRoom, password: 'nope' } }), 'PERMISSION_DENIED');
const inRoom = await ws.call({ joinRoom: { roomId: wsRoom, password: 'pw' } });
if (!inRoom.room || inRoom.room.members.length !== 2) fail(JSON.stringify(inRoom));
await owner.next((event) => event.memberJoined && event.memberJoined.member.key === ws.key,
  'memberJoined');

step = 'rename and kick by the owner';
expectError(await ws.call({ renameRoom: { roomId: wsRoom, name: 'mine' } }), 'PERMISSION_DENIED');
const renamed = await owner.call({ renameRoom: { roomId: wsRoom, name: 'renamed' } });
if (!renamed.ack) fail(JSON.stringify(renamed));
await ws.next((event) => event.roomRenamed && event.roomRenamed.name === 'renamed', 'roomRenamed');
await owner.call({ kick: { roomId: wsRoom, member: ws.key } });
await ws.next((event) => event.memberKicked && event.memberKicked.member === ws.key,
  'memberKicked');

step = 'a bad token ends the stream with close code 4016 (UNAUTHENTICATED)';
const intruder = new Client('intruder', { Authorization: 'Bearer wak_nope' });
await new Promise((resolve) => intruder.socket.once('close', resolve));
if (intruder.closed.code !== 4016) fail(`close code ${intruder.closed.code}`);
const last = intruder.events.find((event) => event.error);
if (!last || last.error.code !== 'UNAUTHENTICATED') fail(JSON.stringify(intruder.events));

ws.socket.close();
owner.socket.close();
console.log('PASS: websocket bridge');
process.exit(0);
