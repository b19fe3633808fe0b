// The signalling WebSocket client the bridge's tests share (the npm `ws`
// package): a key of its own, a socket, and the events not consumed yet.

import crypto from 'node:crypto';
import WebSocket from 'ws';

// Where a script is, for the message it fails with.
export const progress = { step: 'start' };

export function fail(message) {
  console.error(`FAIL at ${progress.step}: ${message}`);
  process.exit(1);
}

export class Client {
  constructor(url, name, options = {}) {
    this.name = name;
    const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
    this.privateKey = privateKey;
    this.key = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url').toString('base64');
    this.events = [];
    this.waiters = [];
    this.nextId = 1;
    this.closed = null;
    this.failed = null;
    this.socket = new WebSocket(url, options);
    this.socket.on('message', (data) => {
      this.events.push(JSON.parse(data.toString()));
      this.wake();
    });
    this.socket.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
    this.socket.on('error', (error) => {
      this.failed = error;
      this.wake();
    });
  }
  wake() {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((wake) => wake());
  }
  async until(condition, what, ms = 10000) {
    const deadline = Date.now() + ms;
    while (!condition()) {
      if (Date.now() > deadline) fail(`${this.name}: no ${what}`);
      await new Promise((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }
  async opened() {
    await this.until(() => this.socket.readyState !== WebSocket.CONNECTING, 'open');
    if (this.socket.readyState !== WebSocket.OPEN) {
      fail(`${this.name}: did not open: ${this.failed && this.failed.message}`);
    }
  }
  async next(match, what) {
    let found;
    await this.until(() => {
      const index = this.events.findIndex(match);
      if (index >= 0) found = this.events.splice(index, 1)[0];
      if (!found && this.closed) fail(`${this.name}: closed (${this.closed.code}) before ${what}`);
      return found !== undefined;
    }, what);
    return found;
  }
  async call(request) {
    const requestId = String(this.nextId++);
    this.socket.send(JSON.stringify({ requestId, ...request }));
    return this.next((event) => event.requestId === requestId, `answer to ${requestId}`);
  }
  async identify() {
    await this.opened();
    const challenge = await this.next((event) => event.challenge, 'challenge');
    const signed = Buffer.concat([
      Buffer.from(challenge.challenge.context),
      Buffer.from(challenge.challenge.nonce, 'base64'),
    ]);
    const signature = crypto.sign(null, signed, this.privateKey).toString('base64');
    const answer = await this.call({ identify: { publicKey: this.key, signature } });
    if (!answer.identified) fail(`${this.name}: not identified: ${JSON.stringify(answer)}`);
    return this;
  }
}
