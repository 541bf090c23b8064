"""LlmClassifier against a mocked chat-completions API (httpx.MockTransport), without Redis; and the
keyed in-flight runner that keeps slow answers from holding back other alerts."""

import asyncio

import httpx
import orjson
from pipeline.runtime.inflight import KeyedInFlight
from pipeline.classification.llm import LlmClassifier
from pipeline.classification.llm_config import LlmPromptConfig
from pipeline.settings import ClassificationSettings

ANSWER = {"severity": "high", "category": "database", "confidence": 0.9, "reasoning": "r",
          "action_items": [], "tags": []}


def completion(answer=ANSWER) -> httpx.Response:
    return httpx.Response(200, json={"choices": [{"message": {"role": "assistant",
                                                              "content": orjson.dumps(answer).decode()}}]})


def classifier(handler, **knobs) -> LlmClassifier:
    settings = ClassificationSettings(llm_enabled=True, llm_base_url="http://model.test/v1", llm_model="m",
                                      llm_api_key="k", llm_retry_backoff_s=0.01, **knobs)
    return LlmClassifier(settings, LlmPromptConfig(), redis_url=None, transport=httpx.MockTransport(handler))


def test_request_format_and_l1_reuse_for_alerts_differing_only_in_volatile_labels():
    seen = []

    def handler(request):
        seen.append(request)
        return completion()

    async def scenario():
        llm = classifier(handler)
        first = await llm.classify({"alertname": "A", "pod": "p-1"}, {"summary": "s", "other": "x"})
        second = await llm.classify({"alertname": "A", "pod": "p-2"}, {"summary": "s"})  # "other" is not sent
        third = await llm.classify({"alertname": "A", "pod": "p-3"}, {})  # another question: another key
        return first, second, third

    first, second, third = asyncio.run(scenario())
    assert (first.source, second.source, third.source) == ("model", "l1", "model")
    assert first.answer == second.answer
    assert len(seen) == 2
    request = seen[0]
    assert str(request.url) == "http://model.test/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer k"
    body = orjson.loads(request.content)
    assert body["model"] == "m" and body["response_format"] == {"type": "json_object"}
    assert orjson.loads(body["messages"][1]["content"]) == {"labels": {"alertname": "A"},
                                                            "annotations": {"summary": "s"}}


def test_retries_with_backoff_then_succeeds():
    answers = iter([httpx.Response(503), httpx.Response(429), completion()])
    outcome = asyncio.run(classifier(lambda r: next(answers), llm_retries=2).classify({"alertname": "A"}, {}))
    assert outcome.source == "model"


def test_permanent_errors_are_not_retried_and_the_reason_is_recorded():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(401, text="bad key")

    outcome = asyncio.run(classifier(handler, llm_retries=3).classify({"alertname": "A"}, {}))
    assert outcome.answer is None and outcome.problem == "model API answered HTTP 401: bad key"
    assert len(calls) == 1


def test_a_slow_model_is_cut_off_at_the_timeout():
    async def slow(request):
        await asyncio.sleep(5)
        return completion()

    async def scenario():
        llm = classifier(slow, llm_timeout_s=0.3)
        loop = asyncio.get_running_loop()
        started = loop.time()
        outcome = await llm.classify({"alertname": "A"}, {})
        return outcome, loop.time() - started

    outcome, seconds = asyncio.run(scenario())
    assert outcome.problem == "no answer within 0.3s" and seconds < 0.6


def test_the_breaker_opens_after_five_failed_alerts_and_then_costs_no_calls():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(500)

    async def scenario():
        llm = classifier(handler, llm_retries=0)
        outcomes = [await llm.classify({"alertname": f"A{i}"}, {}) for i in range(8)]
        return outcomes

    outcomes = asyncio.run(scenario())
    assert len(calls) == 5
    assert all("HTTP 500" in o.problem for o in outcomes[:5])
    assert all(o.problem == "circuit breaker open after 5 consecutive failures" for o in outcomes[5:])


def test_invalid_answers_count_as_failures():
    outcome = asyncio.run(classifier(lambda r: completion({"severity": "meh"}), llm_retries=0)
                          .classify({"alertname": "A"}, {}))
    assert outcome.answer is None and "not the requested JSON" in outcome.problem


def test_concurrent_alerts_with_one_signature_share_one_request():
    calls = []

    async def handler(request):
        calls.append(1)
        await asyncio.sleep(0.1)
        return completion()

    async def scenario():
        llm = classifier(handler)
        return await asyncio.gather(*(llm.classify({"alertname": "A", "pod": str(i)}, {}) for i in range(10)))

    outcomes = asyncio.run(scenario())
    assert len(calls) == 1 and all(o.answer is not None for o in outcomes)


def test_in_flight_runner_delivers_other_keys_at_once_and_one_key_in_order():
    delivered = []

    async def scenario():
        runner = KeyedInFlight(limit=10)

        def job(name, seconds):
            async def work():
                await asyncio.sleep(seconds)
                return name
            return work

        async def deliver(name):
            delivered.append(name)

        await runner.submit("slow-alert", job("slow firing", 0.3), deliver)
        await runner.submit("other", job("other", 0.0), deliver)
        await runner.submit("slow-alert", job("slow resolved", 0.0), deliver)
        await runner.drain()

    asyncio.run(scenario())
    assert delivered == ["other", "slow firing", "slow resolved"]


def test_in_flight_runner_bounds_concurrency():
    peak = []

    async def scenario():
        runner = KeyedInFlight(limit=3)
        running = [0]

        async def work():
            running[0] += 1
            peak.append(running[0])
            await asyncio.sleep(0.01)
            running[0] -= 1

        async def deliver(_):
            pass

        for i in range(20):
            await runner.submit(i, work, deliver)
        await runner.drain()

    asyncio.run(scenario())
    assert max(peak) == 3


def test_in_flight_runner_survives_a_failing_job():
    delivered = []

    async def scenario():
        runner = KeyedInFlight(limit=1)

        async def boom():
            raise RuntimeError("bug")

        async def ok():
            return "ok"

        async def deliver(value):
            delivered.append(value)

        await runner.submit("a", boom, deliver)
        await runner.submit("a", ok, deliver)  # the slot was released; order still kept
        await runner.drain()

    asyncio.run(scenario())
    assert delivered == ["ok"]


def test_the_outcome_carries_the_raise_only_setting():
    guarded = asyncio.run(classifier(lambda r: completion()).classify({"alertname": "A"}, {}))
    unguarded = asyncio.run(classifier(lambda r: completion(), llm_never_lowers_priority=False)
                            .classify({"alertname": "A"}, {}))
    assert guarded.raise_only is True and unguarded.raise_only is False
