"""Django's cache and sessions on Redis, as a Django project configures them, against
redis-server and our broker alike: django-redis's cache (get/set with timeouts, add,
incr, many, patterns, TTLs, its lock), Django's own `RedisCache`, and sessions stored
in that cache. Each runs in a fresh Python process (Django's settings are global).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


from tests.support.servers import ServerProcess

SCRIPT = textwrap.dedent('''
    import json, sys, time
    import django
    from django.conf import settings

    url, backend = sys.argv[1], sys.argv[2]
    settings.configure(
        CACHES={"default": {"BACKEND": backend, "LOCATION": url}},
        SESSION_ENGINE="django.contrib.sessions.backends.cache",
        INSTALLED_APPS=["django.contrib.sessions"],
        SECRET_KEY="test",
    )
    django.setup()
    from django.core.cache import cache
    from django.contrib.sessions.backends.cache import SessionStore

    out = {}
    cache.clear()
    cache.set("user:1", {"name": "ada", "roles": ["admin"]}, timeout=300)
    out["get"] = cache.get("user:1")
    out["missing"] = cache.get("nope", "default")
    out["add_new"] = cache.add("once", 1)
    out["add_again"] = cache.add("once", 2)
    cache.set("hits", 10)
    out["incr"] = cache.incr("hits", 5)
    out["decr"] = cache.decr("hits")
    cache.set_many({"a": 1, "b": [2], "c": "three"}, timeout=60)
    out["many"] = cache.get_many(["a", "b", "c", "zzz"])
    cache.delete_many(["a", "b"])
    out["after_delete"] = sorted(cache.get_many(["a", "b", "c"]))
    out["has"] = [cache.has_key("c"), cache.has_key("a")]
    cache.set("short", "x", timeout=100)
    out["touch"] = cache.touch("short", 200)
    out["get_or_set"] = cache.get_or_set("computed", lambda: "fresh", 60)
    if hasattr(cache, "ttl"):  # django-redis's extras
        out["ttl"] = 190 < cache.ttl("short") <= 200
        out["persist"] = cache.persist("short") and cache.ttl("short") is None
        for n in range(30):
            cache.set(f"page:{n}", n)
        out["keys"] = len(cache.keys("page:*"))
        out["delete_pattern"] = cache.delete_pattern("page:1*")
        out["left"] = len(cache.keys("page:*"))
        with cache.lock("report", timeout=5, blocking_timeout=1):
            other = cache.lock("report", timeout=5, blocking_timeout=0.1)
            out["lock_held"] = not other.acquire()
        out["lock_free"] = cache.lock("report", timeout=5).acquire(blocking=False)
    session = SessionStore()
    session["cart"] = [1, 2, 3]
    session.set_expiry(600)
    session.save()
    key = session.session_key
    loaded = SessionStore(session_key=key)
    out["session"] = loaded["cart"]
    out["session_exists"] = loaded.exists(key)
    loaded.delete()
    out["session_gone"] = not SessionStore().exists(key)
    # Django's own RedisCache counts whole seconds (EX); django-redis milliseconds (PX):
    # short, but long enough that the read before it still finds the key on a busy machine
    expiry = 0.25 if hasattr(cache, "ttl") else 1
    cache.set("expiring", 1, timeout=expiry)
    out["before_expiry"] = cache.get("expiring")
    # wait for the expiry itself (a read after the deadline finds nothing), bounded
    deadline = time.monotonic() + expiry + 5
    while cache.get("expiring") is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    out["expired"] = cache.get("expiring") is None
    print(json.dumps(out))
''')


def _run(either_server: ServerProcess, backend: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", SCRIPT, f"redis://127.0.0.1:{either_server.port}/1", backend],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


COMMON = {
    "get": {"name": "ada", "roles": ["admin"]}, "missing": "default", "add_new": True, "add_again": False,
    "incr": 15, "decr": 14, "many": {"a": 1, "b": [2], "c": "three"}, "after_delete": ["c"],
    "has": [True, False], "touch": True, "get_or_set": "fresh",
    "session": [1, 2, 3], "session_exists": True, "session_gone": True, "before_expiry": 1, "expired": True,
}


def test_django_redis_cache_sessions_and_lock(either_server):
    out = _run(either_server, "django_redis.cache.RedisCache")
    assert out == {**COMMON, "ttl": True, "persist": True, "keys": 30, "delete_pattern": 11, "left": 19,
                   "lock_held": True, "lock_free": True}


def test_djangos_own_redis_cache_and_sessions(either_server):
    assert _run(either_server, "django.core.cache.backends.redis.RedisCache") == COMMON
