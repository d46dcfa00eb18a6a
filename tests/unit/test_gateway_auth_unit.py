"""Tokens, permissions, API keys, Origins and the token bucket (no sockets)."""

import pytest

from gateway.auth import AuthError, Authenticator, Identity, issue_token
from gateway.ratelimit import TokenBucket

SECRET = "unit-test-secret-that-is-32-bytes!!"


def test_identity_permissions_use_redis_globs():
    identity = Identity("u", subscribe=("chat:*", "news"), publish=("chat:[ab]",))
    assert identity.can_subscribe("chat:x") and identity.can_subscribe("news")
    assert not identity.can_subscribe("newsroom")
    assert identity.can_publish("chat:a") and not identity.can_publish("chat:c")
    assert Identity("u").can_publish("anything")


def test_token_claims():
    auth = Authenticator(SECRET)
    identity = auth.authenticate(issue_token(SECRET, "alice", info={"name": "Alice"}, subscribe=["a:*"]))
    assert identity.user == "alice" and identity.info == {"name": "Alice"}
    assert identity.can_subscribe("a:1") and not identity.can_subscribe("b")
    assert not identity.can_publish("a:1")  # no publish claim: nothing


@pytest.mark.parametrize("token, code", [
    (None, "unauthorized"), ("x.y.z", "invalid_token"),
    (issue_token(SECRET, "a", ttl_seconds=-1), "token_expired"),
    (issue_token("another-secret-that-is-32-bytes-long", "a"), "invalid_token"),
])
def test_refused_tokens(token, code):
    with pytest.raises(AuthError) as caught:
        Authenticator(SECRET).authenticate(token)
    assert caught.value.code == code


def test_demo_mode_is_open_and_api_key_and_origin_checks():
    identity = Authenticator().authenticate(None)
    assert identity.user.startswith("anon-") and identity.can_publish("x") and identity.can_subscribe("y")
    auth = Authenticator(api_key="k", allowed_origins=["https://a.example/"])
    auth.check_api_key("apikey k")
    for header in (None, "apikey nope", "Bearer k"):
        with pytest.raises(AuthError):
            auth.check_api_key(header)
    assert auth.origin_allowed("https://a.example") and auth.origin_allowed(None)
    assert not auth.origin_allowed("https://b.example")


def test_token_bucket_refills_over_time():
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])
    assert [bucket.allow() for _ in range(4)] == [True, True, True, False]
    assert bucket.retry_after() == pytest.approx(0.5)
    now[0] += 0.5
    assert bucket.allow() and not bucket.allow()
    now[0] += 100
    assert sum(bucket.allow() for _ in range(10)) == 3  # never more than the burst


def test_anonymous_connections_may_name_themselves_for_presence():
    assert Authenticator().authenticate(None, "Alice").info == {"name": "Alice"}
    assert Authenticator().authenticate(None, "Alice").user == "guest:Alice"  # two tabs, one user
    assert Authenticator().authenticate(None, None).user.startswith("anon-")
    assert Authenticator().authenticate(None, "x" * 100).info == {"name": "x" * 40}
    assert Authenticator().authenticate(None, "").info is None
    token = issue_token(SECRET, "bob", info={"name": "Bob"})
    assert Authenticator(SECRET).authenticate(token, "Mallory").info == {"name": "Bob"}  # the token wins


def test_psubscribe_needs_every_matched_channel_allowed():
    # Issue 13, item 4: the pattern's channels, not its name, are checked.
    identity = Identity(user="u", subscribe=("team:?:*",))
    assert identity.can_subscribe("team:*:*")  # the literal channel named "team:*:*" is inside
    assert not identity.can_psubscribe("team:*:*")
    assert identity.can_psubscribe("team:a:*") and identity.can_psubscribe("team:?:x")
    assert Identity(user="u").can_psubscribe("*")  # no claim: everything
    assert not Identity(user="u", subscribe=()).can_psubscribe("a")
