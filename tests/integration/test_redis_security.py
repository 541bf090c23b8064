"""Redis with a password and over TLS, as the local setup runs it: the tests' own Redis requires the
password, a client made from RedisSettings gets in with it (URL, setting or file), and the sink's
ledger works through rediss:// with the local CA; a client without the CA or with the wrong password
is refused, and no error or log shows the password."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis

from pipeline.delivery.ledger import pending
from pipeline.devenv.process import free_port
from pipeline.devenv.redis import LocalRedis
from pipeline.redis_client import connect, connect_sync, redacted_url
from pipeline.settings import DevSettings, RedisSettings
from pipeline.stages.sink_stores import RedisLedger
from tests.conftest import isolated_dev_settings

pytestmark = pytest.mark.timeout(60)


def test_the_tests_redis_requires_its_password(redis_url):
    bare = redis.Redis.from_url(redacted_url(redis_url).replace(":<secret>@", "@"), socket_timeout=2)
    with pytest.raises(redis.AuthenticationError):
        bare.ping()
    assert connect_sync(RedisSettings(url=redis_url)).ping()


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    dev = isolated_dev_settings(tmp_path_factory.mktemp("redis-tls"))
    server = LocalRedis(DevSettings(**{**dev.model_dump(), "redis_tls_port": free_port()}))
    server.up()
    yield server
    server.down()


def test_password_from_the_setting_or_a_file(tls_redis, tmp_path):
    plain = tls_redis.display_url
    assert connect_sync(RedisSettings(url=plain, password=tls_redis.password())).ping()
    secret = tmp_path / "redis_password"
    secret.write_text(tls_redis.password() + "\n")
    assert connect_sync(RedisSettings(url=plain, password_file=secret)).ping()
    with pytest.raises(redis.AuthenticationError) as caught:
        connect_sync(RedisSettings(url=plain, password="wrong-password-value")).ping()
    assert "wrong-password-value" not in str(caught.value)


def test_the_ledger_over_tls_with_the_local_ca(tls_redis):
    settings = RedisSettings(url=tls_redis.tls_url, tls_ca_file=tls_redis.ca_file)

    async def scenario():
        client = connect(settings)
        store = RedisLedger(client, f"tls{uuid.uuid4().hex[:8]}.", ttl_s=60)
        try:
            entry = pending(round(time.time(), 3), "tls-test")
            assert await store.claim("n1", entry)
            assert await store.get("n1") == entry
            assert (await client.connection_pool.get_connection()).__class__.__name__ == "SSLConnection"
        finally:
            await client.aclose()
    asyncio.run(scenario())


def test_tls_without_the_ca_is_refused(tls_redis):
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        connect_sync(RedisSettings(url=tls_redis.tls_url)).ping()  # the system CAs do not know the local CA
