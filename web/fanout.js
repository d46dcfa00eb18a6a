// fanout.js: the browser client of the fanout gateway. An ES module with no build step:
//
//   import { Fanout } from "/fanout.js";
//   const client = new Fanout("ws://127.0.0.1:8080/ws", { token });
//   client.on("state", (state) => console.log(state));
//   await client.connect();
//   await client.subscribe("chat:lobby", (data, event) => console.log(data), { presence: true });
//   await client.publish("chat:lobby", { text: "hi" });
//
// The wire protocol (JSON text frames) is described in the project README. This module keeps
// the app's subscriptions and watches across reconnects: after a lost connection it reconnects
// with exponential backoff and full jitter, resubscribes everything, and asks history channels
// to replay what was missed from the last offset seen ("recovery"). When the server cannot
// replay (history expired or the broker restarted) it says so through the "recovery" event and
// the subscription's onRecover callback, so the app can refetch its state.

/** Connection states, in the order a client usually goes through them. */
export const State = Object.freeze({
  CONNECTING: "connecting",
  CONNECTED: "connected",
  RECONNECTING: "reconnecting",
  DISCONNECTED: "disconnected",
});

/**
 * An error reply of the server (`{"error":{"code","message"}}`), or a local failure
 * (`code` "disconnected", "timeout").
 */
export class FanoutError extends Error {
  /**
   * @param {string} code machine-readable code, e.g. "forbidden", "rate_limited", "not_enabled"
   * @param {string} message the server's explanation
   */
  constructor(code, message) {
    super(message);
    this.name = "FanoutError";
    /** @type {string} */
    this.code = code;
  }
}

/**
 * The delay before reconnect attempt number `attempt` (0-based): exponential backoff with
 * full jitter, i.e. uniform in [0, min(max, min * 2^attempt)]. Full jitter spreads the
 * reconnects of thousands of clients after a server restart instead of synchronising them.
 *
 * @param {number} attempt failed attempts so far (0 for the first retry)
 * @param {{min?: number, max?: number, random?: () => number}} [options] milliseconds; `random` for tests
 * @returns {number} milliseconds to wait
 */
export function backoffDelay(attempt, { min = 250, max = 10000, random = Math.random } = {}) {
  const ceiling = Math.min(max, min * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/**
 * The users present in a channel, kept from a snapshot (`presence` op) plus join/leave events.
 * Events that arrive before the snapshot are buffered and replayed on top of it, so none is lost
 * and none is applied twice.
 */
export class PresenceState {
  constructor() {
    /** @type {Map<string, any>} user -> info */
    this.users = new Map();
    /** @type {Array<{join?: any, leave?: any}> | null} events waiting for the snapshot */
    this.pending = [];
  }

  /**
   * Replace the state with a snapshot and replay the buffered events.
   * @param {Record<string, {info?: any}>} users as in the `presence` reply
   */
  reset(users) {
    this.users = new Map(Object.entries(users || {}).map(([user, entry]) => [user, entry ? entry.info : null]));
    const pending = this.pending || [];
    this.pending = null;
    for (const event of pending) this.apply(event);
  }

  /** Forget the snapshot: events are buffered again until the next `reset`. */
  invalidate() {
    this.pending = [];
  }

  /**
   * Apply one `{join}` or `{leave}` event (buffered while no snapshot is there).
   * @returns {boolean} whether the visible state may have changed
   */
  apply(event) {
    if (this.pending) {
      this.pending.push(event);
      return false;
    }
    if (event.join) this.users.set(event.join.user, event.join.info ?? null);
    if (event.leave) this.users.delete(event.leave.user);
    return true;
  }

  /** @returns {string[]} user names, sorted */
  list() {
    return [...this.users.keys()].sort();
  }
}

/**
 * @typedef {object} SubscribeOptions
 * @property {boolean|"connections"} [presence] receive join/leave events (per user, or per connection)
 * @property {{offset: number, epoch: string}} [recover] replay from this position on the first subscribe
 *   (later reconnects recover from the last event seen, automatically)
 * @property {(users: Map<string, any>, event: object|null) => void} [onPresence] the channel's users,
 *   after the snapshot and after every join/leave (fetches the snapshot itself; needs presence)
 * @property {(event: object) => void} [onJoin]
 * @property {(event: object) => void} [onLeave]
 * @property {(recovered: boolean, reply: object) => void} [onRecover] after a resubscribe with recovery
 * @property {(gap: {dropped: number, from_offset?: number}) => void} [onGap] events were skipped
 */

/** One channel (or pattern) subscription; lives across reconnects until `unsubscribe()`. */
export class Subscription {
  constructor(client, kind, name, onMessage, options) {
    this.client = client;
    /** "channel" or "pattern" */
    this.kind = kind;
    this.name = name;
    this.onMessage = onMessage;
    /** @type {SubscribeOptions} */
    this.options = options || {};
    /** Position of the last event seen on a history channel (null: no history). */
    this.offset = this.options.recover ? this.options.recover.offset : null;
    this.epoch = this.options.recover ? this.options.recover.epoch : null;
    this.active = true;
    this.presenceState = this.options.onPresence ? new PresenceState() : null;
  }

  /** Stop receiving events (and tell the server, if connected). */
  unsubscribe() {
    return this.client._unsubscribe(this);
  }

  _event(event) {
    const options = this.options;
    if (event.gap) {
      if (options.onGap) options.onGap(event.gap);
      this.client._emit("gap", { channel: event.channel, ...event.gap });
      return;
    }
    if (event.join || event.leave) {
      if (event.join && options.onJoin) options.onJoin(event.join);
      if (event.leave && options.onLeave) options.onLeave(event.leave);
      if (this.presenceState && this.presenceState.apply(event)) options.onPresence(this.presenceState.users, event);
      return;
    }
    if (event.offset !== undefined) {
      // A replayed event can also come live around a resubscribe: deliver each offset once.
      if (event.epoch === this.epoch && this.offset !== null && event.offset <= this.offset) return;
      this.offset = event.offset;
      this.epoch = event.epoch;
    }
    if (this.onMessage) this.onMessage(event.data, event);
  }
}

/** A live view of a key (`watch` op); lives across reconnects until `stop()`. */
export class Watch {
  constructor(client, key, view, onValue) {
    this.client = client;
    this.key = key;
    this.view = view;
    this.onValue = onValue;
    /** The server's id for this watch on the current connection. */
    this.id = null;
    /** The last value received. */
    this.value = undefined;
    this.active = true;
  }

  /** Stop the live updates. */
  stop() {
    return this.client._unwatch(this);
  }
}

/**
 * A connection to the fanout gateway that survives disconnects.
 *
 * Events (`client.on(name, fn)`): "state" (a State), "connected", "disconnected" ({code, reason}),
 * "recovery" ({channel, recovered}), "gap" ({channel, dropped, from_offset}), "error" (FanoutError
 * for an error frame that answers no request).
 */
export class Fanout {
  /**
   * @param {string} url `ws://host:port/ws`; a path alone ("/ws") is resolved against the page
   * @param {object} [options]
   * @param {string|(() => string|Promise<string>)} [options.token] JWT, or a function called on each
   *   (re)connect so an expired token can be refreshed
   * @param {Record<string, string>} [options.params] extra query parameters, e.g. `{name: "Alice"}` (the
   *   display name an anonymous connection shows in presence, on a server without tokens)
   * @param {number} [options.minBackoff=250] ms, first reconnect delay ceiling
   * @param {number} [options.maxBackoff=10000] ms, largest reconnect delay
   * @param {number} [options.pingInterval=10000] ms between app-level pings (0: never)
   * @param {number} [options.pingTimeout=5000] ms without a pong before the connection is deemed dead
   * @param {number} [options.requestTimeout=10000] ms before a request rejects with code "timeout"
   * @param {() => number} [options.random] random source for the jitter (tests)
   * @param {typeof WebSocket} [options.WebSocket] WebSocket implementation (tests)
   */
  constructor(url, options = {}) {
    this.url = resolveUrl(url);
    this.options = {
      token: null, params: {}, minBackoff: 250, maxBackoff: 10000, pingInterval: 10000, pingTimeout: 5000,
      requestTimeout: 10000, random: Math.random, WebSocket: globalThis.WebSocket, ...options,
    };
    /** @type {string} one of State */
    this.state = State.DISCONNECTED;
    /** Failed attempts since the last successful connect (drives the backoff). */
    this.attempt = 0;
    /** Reconnects done since construction (for display and tests). */
    this.reconnects = 0;
    /** Delays chosen for the reconnects, most recent last (for display and tests). */
    this.delays = [];
    this.ws = null;
    this.nextId = 1;
    /** @type {Map<number, {resolve: Function, reject: Function, timer: any}>} */
    this.pending = new Map();
    /** @type {Map<string, Subscription>} */
    this.channels = new Map();
    /** @type {Map<string, Subscription>} */
    this.patterns = new Map();
    /** @type {Set<Watch>} */
    this.watches = new Set();
    /**
     * watch id (this connection) -> its local handles. The server gives every watch of the same
     * key and view one shared id (watching twice is idempotent there), so the id is reference
     * counted here: the server-side unwatch goes out when its last handle stops.
     * @type {Map<string, Set<Watch>>}
     */
    this.watchIds = new Map();
    /** Watch requests in flight on this connection: any of them may come back with a stopped id. */
    this.watchesInFlight = 0;
    /** Ids whose last handle stopped while watches were in flight: unwatched once none is. */
    this.orphanWatchIds = new Set();
    this.listeners = new Map();
    this.wanted = false;
    this.retryTimer = null;
    this.pingTimer = null;
    this.everConnected = false;
    this.connectedWaiters = [];
  }

  // ------------------------------------------------------------------ events

  /** Listen to an event; returns a function that removes the listener. */
  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(fn);
    return () => this.off(name, fn);
  }

  off(name, fn) {
    const set = this.listeners.get(name);
    if (set) set.delete(fn);
  }

  _emit(name, value) {
    for (const fn of [...(this.listeners.get(name) || [])]) {
      try {
        fn(value);
      } catch (error) {
        console.error(`fanout: a "${name}" listener threw`, error);
      }
    }
  }

  _setState(state) {
    if (state === this.state) return;
    this.state = state;
    this._emit("state", state);
  }

  // -------------------------------------------------------------- connection

  /**
   * Open the connection (and keep it open until `disconnect()`).
   * @returns {Promise<void>} resolves once connected
   */
  connect() {
    const promise = this.state === State.CONNECTED ? Promise.resolve()
      : new Promise((resolve) => this.connectedWaiters.push(resolve));
    if (!this.wanted) {
      this.wanted = true;
      this._open();
    }
    return promise;
  }

  /** Close the connection and stop reconnecting. Subscriptions are kept for a later `connect()`. */
  disconnect() {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    this._drop(1000, "client disconnect");
    this._setState(State.DISCONNECTED);
  }

  async _open() {
    clearTimeout(this.retryTimer);
    this._setState(this.everConnected ? State.RECONNECTING : State.CONNECTING);
    let url = this.url;
    for (const [name, value] of Object.entries(this.options.params || {})) {
      if (value !== undefined && value !== null && value !== "") {
        url += (url.includes("?") ? "&" : "?") + encodeURIComponent(name) + "=" + encodeURIComponent(value);
      }
    }
    try {
      const token = typeof this.options.token === "function" ? await this.options.token() : this.options.token;
      if (token) url += (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
    } catch (error) {
      console.warn("fanout: the token function failed", error);
      this._scheduleReconnect();
      return;
    }
    if (!this.wanted) return;
    const ws = new this.options.WebSocket(url);
    this.ws = ws;
    ws.onopen = () => this._onOpen(ws);
    ws.onmessage = (message) => this._onMessage(ws, message.data);
    ws.onclose = (event) => this._onClose(ws, event.code, event.reason);
    ws.onerror = () => {}; // onclose follows and handles it
  }

  _onOpen(ws) {
    if (ws !== this.ws) return;
    ws.fanoutOpened = true;
    const wasReconnect = this.everConnected;
    this.everConnected = true;
    this.attempt = 0;
    if (wasReconnect) this.reconnects += 1;
    this._startPing();
    // Resubscribe before announcing "connected": the requests are queued first on the socket.
    for (const sub of this.channels.values()) this._sendSubscribe(sub, wasReconnect);
    for (const sub of this.patterns.values()) this._sendSubscribe(sub, wasReconnect);
    this.watchIds.clear();
    this.watchesInFlight = 0;
    this.orphanWatchIds.clear();
    for (const watch of this.watches) this._sendWatch(watch);
    this._setState(State.CONNECTED);
    this._emit("connected", { reconnect: wasReconnect });
    for (const resolve of this.connectedWaiters.splice(0)) resolve();
  }

  _onClose(ws, code, reason) {
    if (ws !== this.ws) return;
    this._drop(code, reason);
    if (this.wanted) this._scheduleReconnect();
  }

  /** Forget the current socket (closing it) and fail the requests in flight. */
  _drop(code, reason) {
    const ws = this.ws;
    this.ws = null;
    clearInterval(this.pingTimer);
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      try {
        ws.close(1000, reason && reason.length < 100 ? reason : undefined);
      } catch (error) {
        // an already closing socket
      }
    }
    for (const [id, request] of this.pending) {
      clearTimeout(request.timer);
      request.reject(new FanoutError("disconnected", "the connection was lost before the reply"));
      this.pending.delete(id);
    }
    for (const sub of this.channels.values()) if (sub.presenceState) sub.presenceState.invalidate();
    if (ws && ws.fanoutOpened) {
      this._setState(State.DISCONNECTED);
      this._emit("disconnected", { code, reason });
    }
  }

  _scheduleReconnect() {
    const { minBackoff, maxBackoff, random } = this.options;
    const delay = backoffDelay(this.attempt, { min: minBackoff, max: maxBackoff, random });
    this.attempt += 1;
    this.delays.push(delay);
    if (this.delays.length > 50) this.delays.shift();
    this._setState(this.everConnected ? State.RECONNECTING : State.CONNECTING);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.wanted) this._open();
    }, delay);
  }

  _startPing() {
    clearInterval(this.pingTimer);
    const { pingInterval, pingTimeout } = this.options;
    if (!pingInterval) return;
    const ws = this.ws;
    this.pingTimer = setInterval(() => {
      // A half-open TCP connection (laptop sleep, NAT timeout) shows no close event for minutes:
      // only an unanswered request reveals it.
      this._request({ op: "ping" }, pingTimeout).catch((error) => {
        if (ws === this.ws && error.code === "timeout") {
          this._drop(4000, "ping timeout");
          if (this.wanted) this._scheduleReconnect();
        }
      });
    }, pingInterval);
  }

  // ----------------------------------------------------------------- frames

  _onMessage(ws, text) {
    if (ws !== this.ws) return;
    let message;
    try {
      message = JSON.parse(text);
    } catch (error) {
      console.warn("fanout: a frame that is not JSON", text);
      return;
    }
    if (message.id !== undefined && this.pending.has(message.id)) {
      const request = this.pending.get(message.id);
      this.pending.delete(message.id);
      clearTimeout(request.timer);
      if (message.error) request.reject(new FanoutError(message.error.code, message.error.message));
      else request.resolve(message);
      return;
    }
    if (message.error) {
      this._emit("error", new FanoutError(message.error.code, message.error.message));
      return;
    }
    if (message.watch !== undefined) {
      for (const watch of [...(this.watchIds.get(message.watch) || [])]) {
        if (!watch.active) continue;
        watch.value = message.value;
        watch.onValue(message.value, message);
      }
      return;
    }
    if (message.channel !== undefined) {
      const sub = message.pattern !== undefined ? this.patterns.get(message.pattern) : this.channels.get(message.channel);
      if (sub && sub.active) sub._event(message);
    }
  }

  /**
   * Send one request and wait for its reply.
   * @returns {Promise<object>} the reply; rejects with a FanoutError
   */
  _request(body, timeout = this.options.requestTimeout) {
    const ws = this.ws;
    if (!ws || this.state !== State.CONNECTED && body.op !== "subscribe" && body.op !== "psubscribe"
        && body.op !== "watch") {
      return Promise.reject(new FanoutError("disconnected", `not connected (state: ${this.state})`));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new FanoutError("timeout", `no reply to ${body.op} within ${timeout} ms`));
      }, timeout);
      this.pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ ...body, id }));
    });
  }

  // ----------------------------------------------------------- subscriptions

  /**
   * Subscribe to a channel. The subscription is kept across reconnects; on a history channel
   * each reconnect replays the events missed since the last one seen.
   *
   * @param {string} channel
   * @param {(data: any, event: object) => void} onMessage called with each event's data
   * @param {SubscribeOptions} [options]
   * @returns {Promise<Subscription>} once the server has accepted it (waits for the connection);
   *   rejects with the server's error (e.g. "forbidden"), and the subscription is then dropped
   */
  subscribe(channel, onMessage, options = {}) {
    if (this.channels.has(channel)) {
      return Promise.reject(new FanoutError("already_subscribed", `already subscribed to channel ${channel}`));
    }
    return this._addSubscription(this.channels, new Subscription(this, "channel", channel, onMessage, options));
  }

  /**
   * Subscribe to every channel matching a glob pattern (`chat:*`).
   * @param {string} pattern
   * @param {(data: any, event: object) => void} onMessage `event.channel` tells the channel
   * @returns {Promise<Subscription>}
   */
  psubscribe(pattern, onMessage, options = {}) {
    if (this.patterns.has(pattern)) {
      return Promise.reject(new FanoutError("already_subscribed", `already subscribed to pattern ${pattern}`));
    }
    return this._addSubscription(this.patterns, new Subscription(this, "pattern", pattern, onMessage, options));
  }

  /**
   * Stop a channel subscription (or a pattern one with `{pattern: true}`).
   * @returns {Promise<void>}
   */
  unsubscribe(name, { pattern = false } = {}) {
    const sub = (pattern ? this.patterns : this.channels).get(name);
    return sub ? this._unsubscribe(sub) : Promise.resolve();
  }

  _addSubscription(map, sub) {
    map.set(sub.name, sub);
    const ready = new Promise((resolve, reject) => {
      sub._ready = { resolve, reject };
    });
    if (this.ws && this.ws.readyState === 1 && this.state === State.CONNECTED) this._sendSubscribe(sub, false);
    return ready;
  }

  _sendSubscribe(sub, reconnect) {
    const body = sub.kind === "channel" ? { op: "subscribe", channel: sub.name } : { op: "psubscribe", pattern: sub.name };
    if (sub.options.presence) body.presence = sub.options.presence;
    const recovering = sub.kind === "channel" && sub.offset !== null && sub.epoch !== null;
    if (recovering) body.recover = { offset: sub.offset, epoch: sub.epoch };
    const ws = this.ws;
    this._request(body).then((reply) => {
      if (!sub.active || ws !== this.ws) return;
      // When recovered, the missed events follow this reply and move the offset forward
      // themselves. Otherwise start from the reply's position, unless events of its epoch
      // already got further (this callback runs a microtask after the reply frame).
      if (!(recovering && reply.recovered) && reply.offset !== undefined
          && (sub.offset === null || reply.epoch !== sub.epoch || reply.offset > sub.offset)) {
        sub.offset = reply.offset;
        sub.epoch = reply.epoch;
      }
      if (recovering && (reconnect || sub.options.recover)) {
        const recovered = Boolean(reply.recovered);
        if (sub.options.onRecover) sub.options.onRecover(recovered, reply);
        this._emit("recovery", { channel: sub.name, recovered });
      }
      if (sub.presenceState) this._refreshPresence(sub, ws);
      if (sub._ready) {
        sub._ready.resolve(sub);
        sub._ready = null;
      }
    }, (error) => {
      if (error.code === "disconnected" || error.code === "timeout" && ws !== this.ws) return; // resent on reconnect
      if (sub._ready) {
        (sub.kind === "channel" ? this.channels : this.patterns).delete(sub.name);
        sub.active = false;
        sub._ready.reject(error);
        sub._ready = null;
      } else {
        this._emit("error", error);
      }
    });
  }

  _refreshPresence(sub, ws) {
    this.presence(sub.name).then((reply) => {
      if (!sub.active || ws !== this.ws) return;
      sub.presenceState.reset(reply.users);
      sub.options.onPresence(sub.presenceState.users, null);
    }, (error) => this._emit("error", error));
  }

  async _unsubscribe(sub) {
    if (!sub.active) return;
    sub.active = false;
    const map = sub.kind === "channel" ? this.channels : this.patterns;
    if (map.get(sub.name) === sub) map.delete(sub.name);
    if (this.state !== State.CONNECTED) return;
    const body = sub.kind === "channel" ? { op: "unsubscribe", channel: sub.name } : { op: "punsubscribe", pattern: sub.name };
    try {
      await this._request(body);
    } catch (error) {
      if (error.code !== "not_subscribed" && error.code !== "disconnected") throw error;
    }
  }

  // ---------------------------------------------------------------- requests

  /**
   * Publish to a channel.
   * @param {string} channel
   * @param {any} data any JSON value
   * @returns {Promise<object>} the reply (`offset`, `epoch` on history channels); rejects with a
   *   FanoutError: "forbidden", "rate_limited", ..., or "disconnected" when not connected
   */
  publish(channel, data) {
    return this._request({ op: "publish", channel, data });
  }

  /**
   * The users in a channel now.
   * @returns {Promise<{channel: string, users: Record<string, {info: any, conns: string[]}>}>}
   */
  presence(channel) {
    return this._request({ op: "presence", channel });
  }

  /** @returns {Promise<{channel: string, users: number, connections: number}>} */
  presenceStats(channel) {
    return this._request({ op: "presence_stats", channel });
  }

  /**
   * Past events of a history channel.
   * @param {string} channel
   * @param {{since?: number, limit?: number, reverse?: boolean}} [options]
   * @returns {Promise<{offset: number, epoch: string, messages: Array<{offset: number, data: any, time: number}>}>}
   */
  history(channel, options = {}) {
    return this._request({ op: "history", channel, ...options });
  }

  /**
   * A live view of a key: `onValue` gets the current value at once, then the new value after
   * each change (coalesced by the server). Kept across reconnects until `stop()`.
   *
   * @param {string} key
   * @param {{type: "zset_top", n: number}|{type: "hash"}|{type: "string"}|{type: "list", start?: number, stop?: number}} view
   * @param {(value: any, message: object) => void} onValue
   * @returns {Promise<Watch>} once the first value is there; rejects with the server's error
   */
  watch(key, view, onValue) {
    const watch = new Watch(this, key, view, onValue);
    this.watches.add(watch);
    const ready = new Promise((resolve, reject) => {
      watch._ready = { resolve, reject };
    });
    if (this.state === State.CONNECTED) this._sendWatch(watch);
    return ready;
  }

  _sendWatch(watch) {
    const ws = this.ws;
    this.watchesInFlight += 1;
    const settled = () => {
      if (ws !== this.ws) return false;
      this.watchesInFlight -= 1;
      return true;
    };
    this._request({ op: "watch", key: watch.key, view: watch.view }).then((reply) => {
      if (!settled()) return;
      if (watch.active) {
        watch.id = reply.watch;
        if (!this.watchIds.has(reply.watch)) this.watchIds.set(reply.watch, new Set());
        this.watchIds.get(reply.watch).add(watch);
        this.orphanWatchIds.delete(reply.watch);  // adopted: the server keeps it for this handle
      } else if (!this.watchIds.has(reply.watch)) {
        this.orphanWatchIds.add(reply.watch);  // stopped before its reply, and no other handle shares it
      }
      this._releaseOrphanWatches();
      if (!watch.active) return;
      watch.value = reply.value;
      watch.onValue(reply.value, reply);
      if (watch._ready) {
        watch._ready.resolve(watch);
        watch._ready = null;
      }
    }, (error) => {
      if (settled()) this._releaseOrphanWatches();
      if (error.code === "disconnected" || error.code === "timeout" && ws !== this.ws) return;
      if (watch._ready) {
        this.watches.delete(watch);
        watch.active = false;
        watch._ready.reject(error);
        watch._ready = null;
      } else {
        this._emit("error", error);
      }
    });
  }

  async _unwatch(watch) {
    if (!watch.active) return;
    watch.active = false;
    this.watches.delete(watch);
    const id = watch.id;
    if (id === null) return;
    const handles = this.watchIds.get(id);
    if (!handles || !handles.delete(watch) || handles.size) return;  // another handle still uses the id
    this.watchIds.delete(id);
    if (this.state !== State.CONNECTED) return;
    // A watch in flight may be of the same key and view: its reply would name this id, which the
    // server forgets at the unwatch (the watch was sent first). Wait until every reply is in.
    if (this.watchesInFlight) {
      this.orphanWatchIds.add(id);
      return;
    }
    await this._sendUnwatch(id);
  }

  /** Unwatch the ids no handle adopted, once no watch reply is outstanding. */
  _releaseOrphanWatches() {
    if (this.watchesInFlight) return;
    for (const id of this.orphanWatchIds) {
      if (!this.watchIds.has(id)) this._sendUnwatch(id).catch((error) => this._emit("error", error));
    }
    this.orphanWatchIds.clear();
  }

  async _sendUnwatch(id) {
    try {
      await this._request({ op: "unwatch", watch: id });
    } catch (error) {
      if (error.code !== "disconnected" && error.code !== "not_subscribed") throw error;
    }
  }
}

/** `/ws` -> `ws://<this page's host>/ws` (wss on https pages). */
function resolveUrl(url) {
  if (/^wss?:\/\//.test(url) || typeof location === "undefined") return url;
  const base = new URL(url, location.href);
  base.protocol = base.protocol === "https:" ? "wss:" : "ws:";
  return base.href;
}
