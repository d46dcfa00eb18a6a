"""web/fanout.js against a scripted fake server (a WebSocket stand-in inside the page).

These pin the library's own logic, independent of the server's timing: the recover position
it sends on resubscribe, duplicate suppression, the recovered:false notification, presence
events buffered until the snapshot, and watches re-established under new ids.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

FAKE_SOCKET = """
window.sockets = [];
window.FakeSocket = class {
    constructor(url) {
        this.url = url; this.sent = []; this.readyState = 0; sockets.push(this);
        setTimeout(() => { this.readyState = 1; this.onopen(); }, 0);
    }
    send(text) { this.sent.push(JSON.parse(text)); }
    close() { this.readyState = 3; }
    last(op) { return this.sent.filter((m) => m.op === op).at(-1); }
    // Like a real socket, each frame arrives in a task of its own (promise callbacks run between).
    deliver(body) { setTimeout(() => this.onmessage && this.onmessage({ data: JSON.stringify(body) }), 0); }
    reply(request, body) { this.deliver({ id: request.id, ok: true, ...body }); }
    push(body) { this.deliver(body); }
    drop() { setTimeout(() => { this.readyState = 3; this.onclose({ code: 1006, reason: "" }); }, 0); }
};
window.current = () => sockets.at(-1);
"""


@pytest.fixture
def fake(page: Page, base_url: str) -> Page:
    page.goto(base_url + "/index.html")
    page.evaluate("async () => { window.F = await import('/fanout.js'); }")
    page.evaluate(FAKE_SOCKET)
    page.evaluate("""() => {
        window.got = []; window.recoveries = []; window.recovered = [];
        window.client = new F.Fanout("ws://fake/ws", { WebSocket: FakeSocket, minBackoff: 1, maxBackoff: 1,
                                                        pingInterval: 0, token: () => "tok en",
                                                        params: { name: "Al Ice" } });
        client.on("recovery", (r) => recoveries.push(r));
        client.connect();
    }""")
    page.wait_for_function("client.state === 'connected'")
    return page


def test_resubscribe_recovers_from_the_last_offset_seen_and_delivers_each_offset_once(fake: Page) -> None:
    assert fake.evaluate("current().url") == "ws://fake/ws?name=Al%20Ice&token=tok%20en"
    fake.evaluate("""() => {
        client.subscribe("chat:a", (data) => got.push(data), { onRecover: (ok) => recovered.push(ok) });
        const s = current();
        s.reply(s.last("subscribe"), { channel: "chat:a", offset: 5, epoch: "E1" });
        s.push({ channel: "chat:a", offset: 6, epoch: "E1", data: "six" });
        s.push({ channel: "chat:a", offset: 7, epoch: "E1", data: "seven" });
        s.drop();
    }""")
    fake.wait_for_function("sockets.length === 2 && client.state === 'connected'")
    request = fake.evaluate("current().last('subscribe')")
    assert request["channel"] == "chat:a" and request["recover"] == {"offset": 7, "epoch": "E1"}
    fake.evaluate("""() => {
        const s = current();
        s.reply(s.last("subscribe"), { channel: "chat:a", offset: 9, epoch: "E1", recovered: true });
        for (const [o, d] of [[8, "eight"], [9, "nine"], [9, "nine"], [7, "seven"], [10, "ten"]])
            s.push({ channel: "chat:a", offset: o, epoch: "E1", data: d });
    }""")
    fake.wait_for_function("got.length >= 5")
    assert fake.evaluate("got") == ["six", "seven", "eight", "nine", "ten"]
    assert fake.evaluate("recoveries") == [{"channel": "chat:a", "recovered": True}]

    fake.evaluate("current().drop()")
    fake.wait_for_function("sockets.length === 3 && client.state === 'connected'")
    assert fake.evaluate("current().last('subscribe').recover") == {"offset": 10, "epoch": "E1"}
    fake.evaluate("""() => {
        const s = current();
        s.reply(s.last("subscribe"), { channel: "chat:a", offset: 2, epoch: "E2", recovered: false });
        s.push({ channel: "chat:a", offset: 3, epoch: "E2", data: "new three" });
    }""")
    fake.wait_for_function("got.length >= 6 && recovered.length >= 2")
    assert fake.evaluate("got.at(-1)") == "new three"
    assert fake.evaluate("recoveries.at(-1)") == {"channel": "chat:a", "recovered": False}
    assert fake.evaluate("recovered") == [True, False]
    assert fake.evaluate("[client.channels.get('chat:a').offset, client.channels.get('chat:a').epoch]") == [3, "E2"]


def test_the_first_subscribe_can_recover_from_a_stored_position(fake: Page) -> None:
    fake.evaluate("""() => {
        client.subscribe("chat:b", (data) => got.push(data), { recover: { offset: 40, epoch: "E" },
                                                               onRecover: (ok) => recovered.push(ok) });
    }""")
    assert fake.evaluate("current().last('subscribe').recover") == {"offset": 40, "epoch": "E"}
    fake.evaluate("current().reply(current().last('subscribe'), { offset: 41, epoch: 'E', recovered: true })")
    fake.wait_for_function("recovered.length === 1")
    assert fake.evaluate("recovered") == [True]


def test_presence_events_before_the_snapshot_are_applied_after_it(fake: Page) -> None:
    fake.evaluate("""() => {
        window.views = [];
        client.subscribe("chat:p", null, { presence: true,
                                           onPresence: (users) => views.push([...users.keys()].sort()) });
        const s = current();
        s.reply(s.last("subscribe"), { channel: "chat:p" });
    }""")
    fake.wait_for_function("current().last('presence') !== undefined")
    assert fake.evaluate("current().last('subscribe').presence") is True
    fake.evaluate("""() => {
        const s = current();
        s.push({ channel: "chat:p", join: { user: "carol", info: null } });
        s.push({ channel: "chat:p", leave: { user: "alice", info: null } });
        s.reply(s.last("presence"), { channel: "chat:p", users: { alice: { info: null, conns: ["c1"] },
                                                                  bob: { info: { age: 3 }, conns: ["c2"] } } });
        s.push({ channel: "chat:p", join: { user: "dave", info: null } });
    }""")
    fake.wait_for_function("views.length >= 2")
    assert fake.evaluate("views") == [["bob", "carol"], ["bob", "carol", "dave"]]


def test_watches_come_back_under_a_new_id_after_a_reconnect(fake: Page) -> None:
    fake.evaluate("""() => {
        window.values = [];
        window.handle = null;
        client.watch("leaderboard:demo", { type: "zset_top", n: 3 }, (v) => values.push(v))
            .then((h) => { handle = h; });
        const s = current();
        s.reply(s.last("watch"), { key: "leaderboard:demo", watch: "w1", value: [["a", 1]] });
    }""")
    fake.wait_for_function("handle !== null")
    assert fake.evaluate("current().last('watch').view") == {"type": "zset_top", "n": 3}
    fake.evaluate("""() => {
        current().push({ watch: "w1", key: "leaderboard:demo", value: [["a", 2]] });
        current().drop();
    }""")
    fake.wait_for_function("sockets.length === 2 && current().last('watch') !== undefined")
    fake.evaluate("""() => {
        const s = current();
        s.reply(s.last("watch"), { key: "leaderboard:demo", watch: "w7", value: [["a", 5]] });
        s.push({ watch: "w1", key: "leaderboard:demo", value: "stale id: ignored" });
        s.push({ watch: "w7", key: "leaderboard:demo", value: [["a", 6]] });
    }""")
    fake.wait_for_function("values.length >= 4")
    fake.evaluate("() => { handle.stop(); }")
    assert fake.evaluate("values") == [[["a", 1]], [["a", 2]], [["a", 5]], [["a", 6]]]
    assert fake.evaluate("current().last('unwatch')")["watch"] == "w7"
    assert fake.evaluate("client.watches.size") == 0


def test_server_errors_without_a_request_and_refused_watches(fake: Page) -> None:
    outcome = fake.evaluate("""async () => {
        window.errors = [];
        client.on("error", (e) => errors.push([e.code, e.message]));
        current().push({ error: { code: "bad_request", message: "binary frames are not supported" } });
        const promise = client.watch("secret", { type: "hash" }, () => {});
        current().deliver({ id: current().last("watch").id, error: { code: "forbidden", message: "no" } });
        return promise.then(() => "resolved", (e) => [e.name, e.code, e.message, client.watches.size]);
    }""")
    assert outcome == ["FanoutError", "forbidden", "no", 0]
    fake.wait_for_function("errors.length >= 1")
    assert fake.evaluate("errors") == [["bad_request", "binary frames are not supported"]]


def test_gaps_reach_the_subscription_and_the_client(fake: Page) -> None:
    fake.evaluate("""() => {
        window.gaps = []; window.clientGaps = [];
        client.on("gap", (g) => clientGaps.push(g));
        client.subscribe("feed", (data) => got.push(data), { onGap: (g) => gaps.push(g) });
        const s = current();
        s.reply(s.last("subscribe"), { channel: "feed" });
        s.push({ channel: "feed", data: 1 });
        s.push({ channel: "feed", gap: { dropped: 7 } });
        s.push({ channel: "feed", data: 9 });
    }""")
    fake.wait_for_function("got.length >= 2")
    assert fake.evaluate("[got, gaps, clientGaps]") == [[1, 9], [{"dropped": 7}], [{"channel": "feed", "dropped": 7}]]
