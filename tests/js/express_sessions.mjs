// Express-style sessions as connect-redis's docs set them up (express-session with a
// RedisStore on a node-redis client), served by Node's http module: a visitor's
// view count kept across requests by its cookie, the stored session read back,
// its TTL, the store's ids/length, and logout destroying it. Prints one JSON line of
// what came back and exits 0, or prints the error and exits 1.
// Usage: node express_sessions.mjs PORT
import http from "node:http";
import { RedisStore } from "connect-redis";
import session from "express-session";
import { createClient } from "redis";

const port = Number(process.argv[2]);

async function main() {
  const client = createClient({ url: `redis://127.0.0.1:${port}` });
  await client.connect();
  const prefix = `sess${process.pid}:`;
  const store = new RedisStore({ client, prefix, ttl: 600 });
  const middleware = session({ store, resave: false, saveUninitialized: false, secret: "keyboard cat" });
  const server = http.createServer((req, res) => {
    middleware(req, res, () => {
      if (req.url === "/logout") {
        req.session.destroy(() => res.end(JSON.stringify({ out: true })));
        return;
      }
      req.session.views = (req.session.views || 0) + 1;
      res.end(JSON.stringify({ views: req.session.views }));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  const first = await fetch(`${base}/`);
  const cookie = first.headers.get("set-cookie").split(";")[0];
  const views = [(await first.json()).views];
  for (let i = 0; i < 2; i++) views.push((await (await fetch(`${base}/`, { headers: { cookie } })).json()).views);
  const stranger = (await (await fetch(`${base}/`)).json()).views;  // no cookie: a new session
  const sid = decodeURIComponent(cookie.split("=")[1]).slice(2).split(".")[0];
  const stored = JSON.parse(await client.get(prefix + sid));
  const ttl = await client.ttl(prefix + sid);
  const ids = await new Promise((resolve, reject) => store.ids((err, v) => (err ? reject(err) : resolve(v))));
  const length = await new Promise((resolve, reject) => store.length((err, v) => (err ? reject(err) : resolve(v))));
  await fetch(`${base}/logout`, { headers: { cookie } });
  const afterLogout = await client.exists(prefix + sid);
  console.log(JSON.stringify({ views, stranger, storedViews: stored.views, ttlOk: ttl > 590 && ttl <= 600,
    idsHasSid: ids.includes(sid), length, afterLogout }));
  server.close();
  await client.quit();
}

main().catch((err) => { console.error(err && err.stack || String(err)); process.exit(1); });
