// rate-limiter-flexible's RateLimiterRedis on ioredis, as its docs use it: 5 points
// per 60 s per key, consumed 8 times (5 allowed, 3 refused with msBeforeNext), a
// second key with its own budget, penalty/reward, block, get and delete. Prints one
// JSON line of what came back and exits 0, or prints the error and exits 1.
// Usage: node rate_limiter.mjs PORT
import Redis from "ioredis";
import { RateLimiterRedis } from "rate-limiter-flexible";

const port = Number(process.argv[2]);

async function main() {
  const client = new Redis({ host: "127.0.0.1", port, enableOfflineQueue: false });
  await new Promise((resolve, reject) => { client.once("ready", resolve); client.once("error", reject); });
  // useRedisPackage false: the ioredis path (a Lua script by default)
  const limiter = new RateLimiterRedis({ storeClient: client, keyPrefix: `rl${process.pid}`, points: 5, duration: 60 });
  const outcomes = [];
  for (let i = 0; i < 8; i++) {
    try {
      const res = await limiter.consume("user:1");
      outcomes.push({ ok: true, remaining: res.remainingPoints });
    } catch (rej) {
      if (rej instanceof Error) throw rej;
      outcomes.push({ ok: false, remaining: rej.remainingPoints, waitPositive: rej.msBeforeNext > 0 && rej.msBeforeNext <= 60000 });
    }
  }
  const other = await limiter.consume("user:2", 2);
  const penalised = await limiter.penalty("user:2", 1);
  const rewarded = await limiter.reward("user:2", 2);
  const got = await limiter.get("user:1");
  const blocked = await limiter.block("user:3", 30);
  let blockedRefused = false;
  try { await limiter.consume("user:3"); } catch (rej) { if (rej instanceof Error) throw rej; blockedRefused = true; }
  const deleted = await limiter.delete("user:1");
  const afterDelete = await limiter.consume("user:1");
  console.log(JSON.stringify({
    outcomes, other: other.remainingPoints, penalised: penalised.remainingPoints,
    rewarded: rewarded.remainingPoints, consumedUser1: got.consumedPoints,
    blockedMs: blocked.msBeforeNext > 0 && blocked.msBeforeNext <= 30000, blockedRefused,
    deleted, afterDelete: afterDelete.remainingPoints,
  }));
  client.disconnect();
}

main().catch((err) => { console.error(err && err.stack || String(err)); process.exit(1); });
