// node-redis v5's client-side cache as its docs show it (RESP3, CLIENT TRACKING ON):
// a cached client reads keys twice (a miss, then a hit served locally), another
// client writes them, the server's invalidation pushes drop the cached copies, and
// the next reads fetch the new values. FLUSHALL invalidates everything (a null).
// Prints one JSON line with what it saw and exits 0, or prints the error, exits 1.
// Usage: node client_side_cache.mjs PORT
import { createClient, BasicClientSideCache } from "redis";

const port = Number(process.argv[2]);
const url = `redis://127.0.0.1:${port}`;

// Wait for the server's push to reach the cache (no sleeping: poll each tick, bounded).
async function until(condition, what) {
  const deadline = Date.now() + 10000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function main() {
  const cache = new BasicClientSideCache({ ttl: 0, maxEntries: 0, evictPolicy: "LRU" });
  const cached = createClient({ url, RESP: 3, clientSideCache: cache });
  const writer = createClient({ url });
  await cached.connect();
  await writer.connect();
  await writer.flushAll();
  await writer.set("csc:a", "1");
  await writer.hSet("csc:h", { f: "x" });
  const seen = {};
  seen.first = [await cached.get("csc:a"), await cached.get("csc:a")];
  seen.hash = [await cached.hGetAll("csc:h"), await cached.hGetAll("csc:h")];
  seen.afterReads = { size: cache.size(), hits: cache.stats().hitCount, misses: cache.stats().missCount };
  seen.tracking = await writer.sendCommand(["CLIENT", "LIST"]).then(
    (list) => list.split("\n").some((line) => line.includes(" flags=t ")));
  await writer.set("csc:a", "2");
  await until(() => cache.size() === 1, "csc:a is invalidated");
  seen.afterWrite = [await cached.get("csc:a"), await cached.get("csc:a")];
  await writer.hSet("csc:h", { g: "y" });
  await until(() => cache.size() === 1, "csc:h is invalidated");
  seen.hashAfterWrite = await cached.hGetAll("csc:h");
  await writer.flushAll();
  await until(() => cache.size() === 0, "FLUSHALL empties the cache");
  seen.afterFlush = await cached.get("csc:a");
  const stats = cache.stats();
  seen.stats = { hits: stats.hitCount, misses: stats.missCount, evictions: stats.evictionCount };
  await cached.quit();
  await writer.quit();
  console.log(JSON.stringify(seen));
}

main().then(() => process.exit(0), (error) => {
  console.error(error);
  process.exit(1);
});
