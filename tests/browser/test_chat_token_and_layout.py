"""The chat page with a restricted token, and its layout with the longest names allowed.

A token may allow ``chat:*`` but not the typing channels: the room must still work (history,
messages, presence) with typing quietly off, and messages are signed with the token's name.
Room and user names of 40 characters without a space must never widen the page.
"""

from __future__ import annotations

from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from gateway.auth import issue_token
from tests.support.browser import http_publish, start_serve
from tests.support.servers import ServerProcess

SECRET = "a-chat-token-test-secret-of-32-bytes!"
LONG_ROOM = "a_room_name_of_forty_characters_no_space"
LONG_NAME = "someone-whose-name-is-forty-characters-x"
assert len(LONG_ROOM) == 40 and len(LONG_NAME) == 40


@pytest.fixture(scope="module")
def token_server() -> Iterator[ServerProcess]:
    server = start_serve(None, None, "--token-secret", SECRET)
    yield server
    server.stop()


def test_a_token_without_typing_rights_still_chats_and_signs_with_its_name(
        page: Page, token_server: ServerProcess) -> None:
    http_publish(token_server.port, "chat:tok", {"type": "message", "from": "svc", "name": "svc", "text": "earlier"})
    token = issue_token(SECRET, "u-17", info={"name": "Alice Token"}, subscribe=["chat:*"], publish=["chat:*"])
    # A stale guest name from an earlier visit must not be used either.
    page.goto(f"http://127.0.0.1:{token_server.port}/index.html")
    page.evaluate("localStorage.setItem('fanout-chat-name', 'guest-123')")
    page.goto(f"http://127.0.0.1:{token_server.port}/chat.html?room=tok&token={token}")
    expect(page.locator("#state")).to_have_text("connected")
    expect(page.locator("#messages .message .text")).to_have_text(["earlier"])
    expect(page.locator("#typing")).to_have_text("typing indicator off")
    expect(page.locator("#people li")).to_have_text(["Alice Token"])
    expect(page.locator("#people li.me")).to_have_count(1)

    page.type("#text", "hello")  # no typing notice goes out (it would be refused)
    page.click("#send")
    expect(page.locator("#messages .message .text")).to_have_text(["earlier", "hello"])
    expect(page.locator("#messages .message.mine .who")).to_have_text(["Alice Token"])
    expect(page.locator("#room-note")).to_have_text("")
    # The page fixture fails the test on any uncaught page error.


def test_a_token_without_an_info_name_signs_with_its_user(page: Page, token_server: ServerProcess) -> None:
    token = issue_token(SECRET, "bob-id", subscribe=["chat:*", "chat-typing:*"], publish=["chat:*", "chat-typing:*"])
    page.goto(f"http://127.0.0.1:{token_server.port}/chat.html?room=tok2&token={token}&name=mallory")
    expect(page.locator("#state")).to_have_text("connected")
    expect(page.locator("#people li")).to_have_text(["bob-id"])
    expect(page.locator("#typing")).to_have_text("")
    page.fill("#text", "hi")
    page.click("#send")
    expect(page.locator("#messages .message.mine .who")).to_have_text(["bob-id"])


@pytest.mark.parametrize("width", [320, 390, 700, 1100])
def test_long_room_and_user_names_never_widen_the_chat(browser: Browser, base_url: str, server: ServerProcess,
                                                       width: int) -> None:
    http_publish(server.port, f"chat:{LONG_ROOM}",
                 {"type": "message", "from": "svc", "name": LONG_NAME, "text": "w" * 200})
    context = browser.new_context(viewport={"width": width, "height": 740})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{base_url}/chat.html?room={LONG_ROOM}&name={LONG_NAME}")
        expect(page.locator("#state")).to_have_text("connected")
        expect(page.locator("#people li")).to_have_text([LONG_NAME])
        expect(page.locator("#messages .message").first).to_be_visible()  # one per width, all alike
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the chat is {overflow}px wider than a {width}px window"
        # "Here now" and the room stay inside the window, not pushed off to the side.
        for selector in ("#people", "#room-title", "#messages .message >> nth=0", "#rooms a.current"):
            box = page.locator(selector).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (selector, box)
        assert not errors
    finally:
        context.close()
