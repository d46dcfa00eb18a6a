// Helpers shared by the demo pages: a client bound to the page's state badge, a tiny DOM
// builder (text only, never innerHTML: chat text is untrusted) and canvas line charts.

import { Fanout } from "./fanout.js";

/** URL query parameters of the page. */
export const params = new URLSearchParams(location.search);

/**
 * A Fanout client for this server's /ws whose state shows in `#state`.
 * Pages take `?token=<JWT>` for servers with tokens, and `?ping=<ms>` and `?backoff=<ms>` so
 * tests can shorten the timings.
 */
export function createClient(options = {}) {
  const number = (name) => (params.has(name) ? Number(params.get(name)) : undefined);
  const tuned = {};
  if (params.has("token")) tuned.token = params.get("token"); // on a server with --token-secret
  if (params.has("ping")) tuned.pingInterval = number("ping");
  if (params.has("backoff")) Object.assign(tuned, { minBackoff: number("backoff"), maxBackoff: number("backoff") * 8 });
  const client = new Fanout("/ws", { ...tuned, ...options });
  showState(client.state);
  client.on("state", showState);
  window.fanoutClient = client; // for the console (and tests)
  return client;
}

/** Show a connection state (or any short status) in the header badge. */
export function showState(state) {
  const badge = document.querySelector("#state");
  if (!badge) return;
  badge.textContent = state;
  badge.dataset.state = state;
}

/**
 * `h("li", {class: "x", dataset: {user: "a"}}, "text", child)`: an element with text children.
 * @returns {HTMLElement}
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "dataset") Object.assign(element.dataset, value);
    else if (name === "style") element.style.cssText = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** A number as shown on the pages: at most `digits` decimals, thousands separated. */
export function formatNumber(value, digits = 1) {
  if (typeof value !== "number" || !Number.isFinite(value)) return String(value);
  return value.toLocaleString("en-US", { maximumFractionDigits: digits });
}

/**
 * A sorted-set score as a number. Redis writes infinite scores as "inf" / "-inf", which the
 * gateway passes on as strings (JSON has no infinity); anything unreadable is NaN.
 */
export function parseScore(value) {
  if (typeof value === "number") return value;
  const text = String(value).trim().toLowerCase();
  if (text === "inf" || text === "+inf" || text === "infinity" || text === "+infinity") return Infinity;
  if (text === "-inf" || text === "-infinity") return -Infinity;
  return text === "" ? NaN : Number(text);
}

/**
 * A score in a few characters: "∞"/"-∞", thousands separated below 1e15 (at most `digits`
 * decimals), else a short exponent form ("1e300", "-2.5e18") so a card never overflows.
 */
export function formatScore(value, digits = 2) {
  if (Number.isNaN(value)) return "?";
  if (value === Infinity) return "∞";
  if (value === -Infinity) return "-∞";
  if (Math.abs(value) < 1e15) return formatNumber(value, digits);
  return Number(value.toPrecision(4)).toExponential().replace("e+", "e");
}

/** Put this page's host:port into `[data-host]` elements, its websocket URL into `[data-ws-url]`. */
export function showHosts() {
  for (const element of document.querySelectorAll("[data-host]")) element.textContent = location.host;
  const ws = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  for (const element of document.querySelectorAll("[data-ws-url]")) element.textContent = ws;
}

/**
 * Draw a line chart of `points` ([{t, v}], oldest first) filling the canvas.
 * The canvas is sized to its CSS box times devicePixelRatio so lines stay sharp.
 */
export function drawChart(canvas, points, { color = "#3b6ef5", min, max, window: span = 60000 } = {}) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  const pad = 4 * ratio;
  ctx.strokeStyle = "#e2e6ee";
  ctx.lineWidth = ratio;
  for (let i = 0; i <= 3; i += 1) {
    const y = pad + ((height - 2 * pad) * i) / 3;
    ctx.beginPath();
    ctx.moveTo(0, y);
    ctx.lineTo(width, y);
    ctx.stroke();
  }
  if (points.length === 0) return;
  const values = points.map((p) => p.v);
  let low = min ?? Math.min(...values);
  let high = max ?? Math.max(...values);
  if (high - low < 1e-9) { // a flat line: give it a band, without crossing a given bound
    high = max ?? low + 1;
    low = min ?? high - 2;
    if (high - low < 1e-9) high = low + 1;
  }
  const end = points[points.length - 1].t;
  // Until a full window of data is there, stretch what there is over the width.
  const shown = Math.max(1000, Math.min(span, end - points[0].t));
  const x = (t) => width - ((end - t) / shown) * width;
  const y = (v) => height - pad - ((v - low) / (high - low)) * (height - 2 * pad);
  ctx.beginPath();
  points.forEach((p, i) => (i === 0 ? ctx.moveTo(x(p.t), y(p.v)) : ctx.lineTo(x(p.t), y(p.v))));
  ctx.strokeStyle = color;
  ctx.lineWidth = 2 * ratio;
  ctx.lineJoin = "round";
  ctx.stroke();
  ctx.lineTo(x(end), height);
  ctx.lineTo(x(points[0].t), height);
  ctx.closePath();
  ctx.globalAlpha = 0.12;
  ctx.fillStyle = color;
  ctx.fill();
  ctx.globalAlpha = 1;
  ctx.fillStyle = "#6a7385";
  ctx.font = `${11 * ratio}px system-ui, sans-serif`;
  ctx.fillText(formatNumber(high), 4 * ratio, 13 * ratio);
  ctx.fillText(formatNumber(low), 4 * ratio, height - 6 * ratio);
}

/**
 * Explain on the page why it cannot work, where a browser console would otherwise be the only
 * place: asks `GET /api/auth/check` whether this page's token (or none) is accepted, and if not
 * shows what to do (`?token=`, and the `fanout token` command with the claims the page needs).
 * Refused subscriptions are shown by each page where their data would be (see `refusal`).
 *
 * @param {Fanout} client the page's client (its state also greys stale data, see below)
 * @param {{subscribe: string[], publish?: string[], info?: object}} needs the claims the page needs
 */
export async function explainAccess(client, needs) {
  watchStaleness(client);
  const query = new URLSearchParams();
  if (params.has("token")) query.set("token", params.get("token"));
  if (params.has("name")) query.set("name", params.get("name"));
  let answer;
  try {
    answer = await fetch(`/api/auth/check?${query}`, { cache: "no-store" }).then((r) => r.json());
  } catch (error) {
    return null; // the server is unreachable: the state badge says so
  }
  if (answer.ok) return answer;
  // Retrying cannot help until the page is opened with another token: stop, and say why.
  client.disconnect();
  showState(params.has("token") ? "token refused" : "token needed");
  const claims = [];
  for (const glob of needs.subscribe || []) claims.push(`--subscribe '${glob}'`);
  for (const glob of needs.publish || []) claims.push(`--publish '${glob}'`);
  const info = needs.info ? ` --info '${JSON.stringify(needs.info)}'` : "";
  const command = `fanout token --token-secret <the server's secret> --sub alice${info} ${claims.join(" ")}`;
  const given = params.has("token");
  const box = document.getElementById("explain") || h("div", { id: "explain", class: "explain", role: "alert" });
  box.replaceChildren(
    h("strong", {}, given ? "This page's token was refused: " : "This server needs a token: "),
    answer.error.message, ". ",
    given ? "Make a new one" : "It runs with --token-secret, so every websocket must bring a signed token. Make one",
    " and open this page with ", h("code", {}, "?token=<the token>"), " added to its address:",
    h("pre", {}, command),
    needs.publish && needs.publish.length ? "" : h("span", {}, "This page only reads, so it needs no publish rights."));
  box.hidden = false;
  const main = document.querySelector("main");
  if (!box.isConnected) main.prepend(box);
  return answer;
}

/** The text to show where refused data would be: "Refused: <why> (code)". */
export function refusal(what, error) {
  const why = error && error.code === "forbidden"
    ? `${error.message}. The page's token does not allow it: add --subscribe for it when making the token.`
    : error ? error.message : "refused";
  return `${what}: ${why}`;
}

/** Grey what the page shows while the connection is down (it may be stale), after it was live once. */
function watchStaleness(client) {
  let live = false;
  const update = (state) => {
    if (state === "connected") live = true;
    if (live && state !== "connected") document.body.dataset.stale = "";
    else delete document.body.dataset.stale;
  };
  client.on("state", update);
}
