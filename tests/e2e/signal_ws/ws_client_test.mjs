// A real WebSocket client (the npm `ws` package) against warden-control's
// signalling bridge. Usage:
//   node ws_client_test.mjs <ws url> <API key> <room id> <gRPC member key, base64>
// The room was made by a gRPC client, which relays "hello from grpc" once it
// sees this client join. Exits 0 when every step held, 1 (saying which
// step) otherwise.

import { Client, fail, progress } from './signal_ws_client.mjs';

const [url, apiKey, roomId, grpcMemberKey] = process.argv.slice(2);
const b64 = (text) => Buffer.from(text).toString('base64');
setTimeout(() => fail('timed out'), 30000).unref();

function expectError(answer, code) {
  if (!answer.error || answer.error.code !== code) {
    fail(`expected ${code}, got ${JSON.stringify(answer)}`);
  }
}

progress.step = 'connect with a bearer header and identify';
const ws = new Client(url, 'ws', { headers: { Authorization: `Bearer ${apiKey}` } });
await ws.opened();
await ws.identify();

progress.step = 'a frame that is not JSON gets an error, and the stream goes on';
ws.socket.send('this is not json');
const garbage = await ws.next((event) => event.error, 'error for garbage');
if (garbage.error.code !== 'INVALID_ARGUMENT') fail(JSON.stringify(garbage));

progress.step = 'join the gRPC client\'s room';
const joined = await ws.call({ joinRoom: { roomId } });
if (!joined.room || !joined.room.members.some((member) => member.key === grpcMemberKey)) {
  fail(`room state without the gRPC member: ${JSON.stringify(joined)}`);
}

progress.step = 'relay to the gRPC member, and hear its relay';
const ack = await ws.call({
  relay: { roomId, to: grpcMemberKey, payload: b64('hello from websocket') },
});
if (!ack.ack || ack.ack.delivered !== 1) fail(JSON.stringify(ack));
const fromGrpc = await ws.next((event) => event.relayed, 'relay from the gRPC member');
if (Buffer.from(fromGrpc.relayed.payload, 'base64').toString() !== 'hello from grpc' ||
    fromGrpc.relayed.from !== grpcMemberKey) {
  fail(JSON.stringify(fromGrpc));
}

progress.step = 'authenticate by message (no header), create a room with a password';
const owner = new Client(url, 'owner');
await owner.opened();
owner.socket.send(JSON.stringify({ authenticate: { token: apiKey } }));
await owner.identify();
const created = await owner.call({ createRoom: { name: 'ws room', password: 'pw', maxClients: 4 } });
if (!created.room || created.room.name !== 'ws room' || !created.room.hasPassword) {
  fail(JSON.stringify(created));
}
const wsRoom = created.room.roomId;

progress.step = 'wrong password, then the right one';
expectError(await ws.call({ joinRoom: { roomId: wsRoom, password: 'nope' } }), 'PERMISSION_DENIED');
const inRoom = await ws.call({ joinRoom: { roomId: wsRoom, password: 'pw' } });
if (!inRoom.room || inRoom.room.members.length !== 2) fail(JSON.stringify(inRoom));
await owner.next((event) => event.memberJoined && event.memberJoined.member.key === ws.key,
  'memberJoined');

progress.step = 'rename and kick by the owner';
expectError(await ws.call({ renameRoom: { roomId: wsRoom, name: 'mine' } }), 'PERMISSION_DENIED');
const renamed = await owner.call({ renameRoom: { roomId: wsRoom, name: 'renamed' } });
if (!renamed.ack) fail(JSON.stringify(renamed));
await ws.next((event) => event.roomRenamed && event.roomRenamed.name === 'renamed', 'roomRenamed');
await owner.call({ kick: { roomId: wsRoom, member: ws.key } });
await ws.next((event) => event.memberKicked && event.memberKicked.member === ws.key,
  'memberKicked');

progress.step = 'a bad token ends the stream with close code 4016 (UNAUTHENTICATED)';
const intruder = new Client(url, 'intruder', { headers: { Authorization: 'Bearer wak_nope' } });
await new Promise((resolve) => intruder.socket.once('close', resolve));
if (intruder.closed.code !== 4016) fail(`close code ${intruder.closed.code}`);
const last = intruder.events.find((event) => event.error);
if (!last || last.error.code !== 'UNAUTHENTICATED') fail(JSON.stringify(intruder.events));

ws.socket.close();
owner.socket.close();
console.log('PASS: websocket bridge');
process.exit(0);
