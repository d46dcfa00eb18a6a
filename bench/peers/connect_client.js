// The connect-storm client of bench/connect_storm.py: raw TCP sockets (Bun.connect under
// Bun, `net` under node), so that the client is not what bounds the connect rate (the
// Python client of that script managed ~1,900 connects/s, for every server alike).
//
// Each connection sends a prebuilt upgrade request, then, once the 101 is in, one masked
// subscribe frame; the connect is done at the first text frame after the 101 (the
// subscribe reply). INFLIGHT connects are in flight at a time; the sockets stay open
// (idle, subscribed, pings answered) until told to close.
//
// Driven line by line over stdin/stdout: prints "ready", waits for "go", storms, prints
// {"connects": N, "elapsed": seconds}, waits for "close", closes every socket, prints
// "closed" and exits once they are gone.
//
// Usage: bun connect_client.js PORT COUNT INFLIGHT ROOMS FIRST
//   ROOMS > 0: connection i (counting from FIRST) subscribes to room-<i % ROOMS>, else to
//   "bench". Every server is reached the same way (upgrade at /ws, then the subscribe
//   frame): bench/peers/bun_rooms.js answers that frame as fanout does.
const [port, count, inflight, rooms, first] = process.argv.slice(2, 7).map(Number);
const host = "127.0.0.1";

function frame(text) {
  // Client frames are masked (RFC 6455 5.3); the zero mask keeps them cheap.
  const payload = Buffer.from(text);
  if (payload.length >= 126) throw new Error("subscribe frame too long");
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
}

function upgrade(index) {
  const key = Buffer.alloc(16);
  key.writeUInt32BE(index >>> 0, 12);
  return Buffer.from(`GET /ws HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
    + `Sec-WebSocket-Key: ${key.toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
}

const PONG = Buffer.from([0x8a, 0x80, 0, 0, 0, 0]);
const HEADER_END = Buffer.from("\r\n\r\n");
const open = [];
let started = 0, done = 0, failed = null, begin = 0, finish = null, closing = false, alive = 0;

// Per-connection state: {stage: 0 (upgrading) | 1 (subscribing) | 2 (done), buffer, subscribe}.
function received(state, socket, chunk) {
  if (state.stage === 2) {
    if (chunk[0] === 0x89) socket.write(PONG); // a heartbeat ping (its payload is not echoed)
    return;
  }
  state.buffer = state.buffer ? Buffer.concat([state.buffer, chunk]) : chunk;
  if (state.stage === 0) {
    const end = state.buffer.indexOf(HEADER_END);
    if (end < 0) return;
    if (state.buffer.toString("latin1", 0, 12) !== "HTTP/1.1 101") {
      fail(new Error(state.buffer.toString("latin1", 0, 200)));
      return;
    }
    state.stage = 1;
    state.buffer = state.buffer.subarray(end + 4);
    socket.write(state.subscribe);
  }
  if (state.buffer.length >= 2 && state.buffer[0] === 0x81) {
    state.stage = 2;
    state.buffer = null;
    open.push(socket);
    done += 1;
    if (done === count) finish();
    else launch();
  }
}

function fail(error) {
  if (!failed) {
    failed = error;
    console.error(`connect failed: ${error.message || error}`);
    process.exit(1);
  }
}

function closed() {
  alive -= 1;
  if (closing && alive === 0) {
    console.log("closed");
    process.exit(0);
  }
}

function connect(index) {
  const channel = rooms > 0 ? `room-${index % rooms}` : "bench";
  const state = { stage: 0, buffer: null, subscribe: frame(JSON.stringify({ op: "subscribe", channel, id: 1 })) };
  const request = upgrade(index);
  alive += 1;
  if (typeof Bun !== "undefined") {
    Bun.connect({
      hostname: host, port,
      socket: {
        open(socket) { socket.write(request); },
        data(socket, chunk) { received(state, socket, chunk); },
        close() { if (state.stage !== 2 && !closing) fail(new Error("closed before the subscribe reply")); closed(); },
        error(socket, error) { fail(error); },
        connectError(socket, error) { fail(error); },
      },
    }).catch(fail);
  } else {
    const socket = require("net").connect({ host, port, noDelay: true }, () => socket.write(request));
    socket.on("data", (chunk) => received(state, socket, chunk));
    socket.on("error", fail);
    socket.on("close", () => {
      if (state.stage !== 2 && !closing) fail(new Error("closed before the subscribe reply"));
      closed();
    });
  }
}

function launch() {
  if (started < count) connect(first + started++);
}

const lines = require("readline").createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (line === "go") {
    begin = performance.now();
    finish = () => console.log(JSON.stringify({ connects: done, elapsed: (performance.now() - begin) / 1000 }));
    for (let i = 0; i < Math.min(inflight, count); i++) launch();
  } else if (line === "close") {
    closing = true;
    if (alive === 0) { console.log("closed"); process.exit(0); }
    for (const socket of open) socket.end();
  }
});
console.log("ready");
