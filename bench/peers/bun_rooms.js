// The Bun peer for bench/rooms_vs_bun.py: Bun's built-in websocket pub/sub (uWebSockets).
// A websocket to /ws?room=R is subscribed to topic R; POST /api/publish with a JSON body
// {"channel": R, "data": ...} (as fanout's) sends the body to every socket of R
// (server.publish); a websocket's own text message {"channel": R, ...} is published the same
// way (the chat path), except {"op": "subscribe", "channel": R, "id": I}, which subscribes the
// socket to R and is answered as fanout answers it (bench/connect_storm.py's handshake +
// subscribe; a socket opened without ?room= is in no room until then). No auth, compression
// off (as fanout). Usage: bun bun_rooms.js PORT
const port = Number(process.argv[2]);
const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  async fetch(req, server) {
    const url = new URL(req.url);
    if (url.pathname === "/ws") {
      if (server.upgrade(req, { data: { room: url.searchParams.get("room") } })) return;
      return new Response("upgrade failed", { status: 400 });
    }
    if (url.pathname === "/api/publish" && req.method === "POST") {
      const text = await req.text();
      const body = JSON.parse(text);
      server.publish(body.channel, text);
      return Response.json({ ok: true });
    }
    return new Response("not found", { status: 404 });
  },
  websocket: {
    perMessageDeflate: false,
    open(ws) { if (ws.data.room) ws.subscribe(ws.data.room); },
    message(ws, message) {
      const body = JSON.parse(message);
      if (body.op === "subscribe") {
        ws.subscribe(body.channel);
        ws.send(JSON.stringify({ op: "subscribed", channel: body.channel, id: body.id }));
        return;
      }
      server.publish(body.channel, message);
    },
  },
});
console.log(`bun rooms: listening on 127.0.0.1:${server.port}`);
