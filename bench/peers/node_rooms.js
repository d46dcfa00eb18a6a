// The node `ws` peer for bench/rooms_vs_bun.py: node's http server and the `ws` library with a
// Map of rooms (the usual hand-rolled chat server). Same API as bun_rooms.js: /ws?room=R,
// POST /api/publish {"channel": R, "data": ...}, and a websocket's message published to its room,
// except {"op": "subscribe", "channel": R, "id": I}: the socket joins R, answered as fanout answers.
// Usage: node node_rooms.js PORT (NODE_PATH must reach the `ws` package).
const http = require("http");
const { WebSocketServer } = require("ws");

const rooms = new Map();
function publish(room, text) {
  const members = rooms.get(room);
  if (members) for (const ws of members) ws.send(text);
}

const server = http.createServer((req, res) => {
  if (req.method === "POST" && req.url === "/api/publish") {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString();
      publish(JSON.parse(text).channel, text);
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": 11 });
      res.end('{"ok":true}');
    });
    return;
  }
  res.writeHead(404);
  res.end();
});
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
server.on("upgrade", (req, socket, head) => {
  const url = new URL(req.url, "http://x");
  if (url.pathname !== "/ws") return socket.destroy();
  wss.handleUpgrade(req, socket, head, (ws) => {
    const joined = new Set();
    const join = (room) => {
      if (!rooms.has(room)) rooms.set(room, new Set());
      rooms.get(room).add(ws);
      joined.add(room);
    };
    const room = url.searchParams.get("room");
    if (room) join(room);
    ws.on("message", (data) => {
      const text = data.toString();
      const body = JSON.parse(text);
      if (body.op === "subscribe") {
        join(body.channel);
        ws.send(JSON.stringify({ op: "subscribed", channel: body.channel, id: body.id }));
        return;
      }
      publish(body.channel, text);
    });
    ws.on("close", () => {
      for (const name of joined) {
        const members = rooms.get(name);
        members.delete(ws);
        if (!members.size) rooms.delete(name);
      }
    });
  });
});
server.keepAliveTimeout = 60000;
server.listen(Number(process.argv[2]), "127.0.0.1", 4096, () => {
  console.log(`node ws rooms: listening on 127.0.0.1:${server.address().port}`);
});
