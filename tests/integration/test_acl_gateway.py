"""ACL rules are for the RESP port's clients, not the gateway's own connections to its
embedded broker (issue 20): with the default user locked down, browsers still
subscribe, publish and get their events, while a plain RESP client is refused."""

from __future__ import annotations

from tests.support.resp_client import RespClient, RespError
from tests.support.servers import ServerProcess
from tests.support.ws import connect


async def test_a_locked_down_default_user_leaves_the_gateway_working(embedded_serve: ServerProcess) -> None:
    resp = embedded_serve.extra_ports["resp"]
    with RespClient(resp) as admin:
        assert admin.call("ACL", "SETUSER", "admin", "on", ">pw", "+@all", "~*", "&*") == b"OK"
        assert admin.call("AUTH", "admin", "pw") == b"OK"
        assert admin.call("ACL", "SETUSER", "default", "resetchannels", "resetkeys", "-@all", "+ping") == b"OK"
        try:
            with RespClient(resp) as guest:
                assert guest.call("PUBLISH", "chat:lobby", "x") == RespError(
                    "NOPERM this user has no permissions to run the 'publish' command")
            client = await connect(embedded_serve.port)
            assert (await client.request("subscribe", channel="chat:lobby"))["ok"] is True
            assert (await client.request("publish", channel="chat:lobby", data="hi"))["ok"] is True
            assert (await client.event())["data"] == "hi"
            await client.close()
        finally:
            admin.call("ACL", "SETUSER", "default", "allchannels", "allkeys", "+@all")
            admin.call("ACL", "DELUSER", "admin")
