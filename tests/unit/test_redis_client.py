"""pipeline.redis_client without a server: settings, options, the URL shown in logs, the guard."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis
from pydantic import ValidationError

from pipeline.redis_client import BREAKER_STATE, RedisGuard, RedisUnavailable, client_options, redacted_url
from pipeline.settings import RedisSettings


def test_one_password_source_and_tls_pairs():
    with pytest.raises(ValidationError, match="give the password once, not as a password in url and password"):
        RedisSettings(url="redis://:p1@h:1/0", password="p2")
    with pytest.raises(ValidationError) as caught:
        RedisSettings(password="visible-secret", password_file="/run/secrets/x")
    assert "visible-secret" not in str(caught.value)
    with pytest.raises(ValidationError, match="tls_cert_file and tls_key_file go together"):
        RedisSettings(tls_cert_file="/c.pem")
    with pytest.raises(ValidationError, match="must start with redis://"):
        RedisSettings(url="http://h:6379")


def test_options_carry_timeouts_a_single_reconnect_and_tls(tmp_path):
    options = client_options(RedisSettings(timeout_s=1.5, connect_timeout_s=0.5))
    assert options["socket_timeout"] == 1.5 and options["socket_connect_timeout"] == 0.5
    assert options["retry_on_timeout"] is False
    assert options["retry"].get_retries() == 1  # redis-py's default is 10, with backoff
    assert "password" not in options and "ssl_ca_certs" not in options

    secret = tmp_path / "pw"
    secret.write_text("from-file\n")
    tls = client_options(RedisSettings(url="rediss://cache:6380/0", password_file=secret, username="sink",
                                       tls_ca_file=tmp_path / "ca.crt", tls_cert_file=tmp_path / "c.crt",
                                       tls_key_file=tmp_path / "c.key", tls_check_hostname=False))
    assert tls["password"] == "from-file" and tls["username"] == "sink"
    assert tls["ssl_cert_reqs"] == "required" and tls["ssl_check_hostname"] is False
    assert tls["ssl_ca_certs"].endswith("ca.crt") and tls["ssl_certfile"].endswith("c.crt")
    with pytest.raises(ValueError, match="cannot read it"):
        client_options(RedisSettings(password_file=tmp_path / "missing"))


def test_redacted_url():
    assert redacted_url("redis://:hunter2@10.0.0.1:6379/0") == "redis://:<secret>@10.0.0.1:6379/0"
    assert redacted_url("rediss://user:hunter2@cache/1") == "rediss://user:<secret>@cache/1"
    assert redacted_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def guard(clock, wait=False, failures=2):
    return RedisGuard("unit", RedisSettings(url="redis://:pw@h:1/0", breaker_failures=failures, breaker_reset_s=5),
                      what_it_means="Nothing happens", wait=wait, clock=clock)


async def fail():
    raise redis.TimeoutError("Timeout reading from h:1")


async def ok():
    return "PONG"


def test_guard_counts_redis_down_logs_once_each_way_and_refuses_while_open(caplog):
    caplog.set_level(logging.INFO, logger="pipeline.redis_client")
    clock = Clock()
    g = guard(clock)

    async def scenario():
        for _ in range(2):
            with pytest.raises(redis.TimeoutError):
                await g.run(fail)
        assert g.is_down and BREAKER_STATE.labels("unit")._value.get() == 2
        with pytest.raises(RedisUnavailable):  # open: not even tried
            await g.run(ok)
        clock.now += 5  # cool-down over: one probe
        with pytest.raises(redis.TimeoutError):
            await g.run(fail)
        clock.now += 5
        assert await g.run(ok) == "PONG"
        assert not g.is_down and BREAKER_STATE.labels("unit")._value.get() == 0
    asyncio.run(scenario())
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "is not answering" in m]) == 1
    down = next(m for m in messages if "is not answering" in m)
    assert "redis (unit) at redis://:<secret>@h:1/0" in down and "Nothing happens" in down and "pw@" not in down
    assert [m for m in messages if "answers again" in m] == ["redis (unit) at redis://:<secret>@h:1/0 answers again, "
                                                             "after 10.0s counted as down"]


def test_a_command_error_is_an_answer_not_an_outage():
    g = guard(Clock(), failures=1)

    async def wrong_type():
        raise redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")

    async def scenario():
        with pytest.raises(redis.ResponseError):
            await g.run(wrong_type)
        assert not g.is_down
    asyncio.run(scenario())


def test_a_waiting_guard_holds_callers_until_a_probe_succeeds():
    g = RedisGuard("unit-wait", RedisSettings(breaker_failures=1, breaker_reset_s=0.05),
                   what_it_means="Callers wait", wait=True)
    answers = iter([fail, fail, ok, ok, ok])

    async def scenario():
        with pytest.raises(redis.TimeoutError):
            await g.run(fail)
        calls = []

        async def call():
            calls.append(1)
            return await next(answers)()
        # Both wait for probes; the first probe fails, later ones pass; neither sees an error.
        results = await asyncio.wait_for(asyncio.gather(_until_ok(g, call), _until_ok(g, call)), 5)
        assert results == ["PONG", "PONG"]
    asyncio.run(scenario())


async def _until_ok(g, call):
    while True:
        try:
            return await g.run(call)
        except redis.TimeoutError:
            continue
