// A BullMQ round trip as its docs show it: a Queue adds jobs, a Worker completes
// them, QueueEvents reports each completion. Prints one JSON line with what came
// back and exits 0, or prints the error and exits 1.
// Usage: node bullmq_roundtrip.mjs PORT [JOBS]
import { Queue, Worker, QueueEvents } from "bullmq";

const port = Number(process.argv[2]);
const count = Number(process.argv[3] || 5);
const connection = { host: "127.0.0.1", port };
const name = `roundtrip-${process.pid}`;

async function main() {
  const queue = new Queue(name, { connection });
  const events = new QueueEvents(name, { connection });
  await events.waitUntilReady();
  const worker = new Worker(name, async (job) => {
    if (job.name === "flaky" && job.attemptsMade === 0) throw new Error("first attempt fails");
    return { doubled: job.data.n * 2, name: job.name, attempts: job.attemptsMade };
  }, { connection });
  const jobs = [];
  for (let i = 0; i < count; i++) {
    jobs.push(await queue.add(`job-${i}`, { n: i }, { removeOnComplete: false }));
  }
  // A delayed job and a job that fails once, then is retried and completes.
  jobs.push(await queue.add("delayed", { n: 100 }, { delay: 50 }));
  jobs.push(await queue.add("flaky", { n: 7 }, { attempts: 2 }));
  const results = await Promise.all(jobs.map((job) => job.waitUntilFinished(events, 30000)));
  const counts = await queue.getJobCounts("completed", "failed", "waiting", "active", "delayed");
  const first = await queue.getJob(jobs[0].id);
  console.log(JSON.stringify({ results, counts, firstState: await first.getState(),
    firstReturn: first.returnvalue }));
  await worker.close();
  await events.close();
  await queue.obliterate({ force: true });
  await queue.close();
}

const timer = setTimeout(() => { console.error("timed out"); process.exit(2); }, 60000);
main().then(() => { clearTimeout(timer); process.exit(0); },
  (err) => { console.error(err && err.stack || String(err)); process.exit(1); });
