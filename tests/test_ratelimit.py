"""The generation rate limit and the queue's door: the limiter, its setting, client identity, admission at join,
and the running app."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import ValidationError

from fusion.config import SPACES_GENERATION_RATE, settings_from_env
from fusion.ratelimit import RateLimiter, client_id, forwarded_client, parse_rate, window_seconds
from fusion.ui.admission import CLIENT_FULL, LANE_FULL, Door, describe_limit, describe_wait, rate_limited
from fusion.ui.common import GPU_CONCURRENCY_ID

ASSETS = Path(__file__).resolve().parents[1] / "assets"
REFUSED = r"Generation limit reached: 2 per hour per user\. Try again in \d+ minutes\."


# -------------------------------------------------------------------------------------------- the limiter
def test_uses_are_counted_in_a_sliding_window_and_a_refusal_says_how_long_to_wait() -> None:
    limiter = RateLimiter(parse_rate("2/second"))
    assert [limiter.acquire("a"), limiter.acquire("a")] == [0, 0]
    wait_s = limiter.acquire("a")
    assert 0 < wait_s <= 1
    time.sleep(wait_s + 0.05)
    assert limiter.acquire("a") == 0, "the first use has left the window"


def test_refused_requests_are_not_counted_and_each_client_has_its_own_budget() -> None:
    limiter = RateLimiter(parse_rate("1/minute"))
    assert limiter.acquire("a") == 0
    assert all(limiter.acquire("a") > 0 for _ in range(100))
    assert 59 < limiter.acquire("a") <= 60, "refusals did not push the window on"
    assert limiter.acquire("b") == 0


def test_many_threads_at_once_get_exactly_the_allowed_uses() -> None:
    limiter = RateLimiter(parse_rate("25/hour"))
    admitted_by: Counter[str] = Counter()
    lock = threading.Lock()

    def hammer(own: str) -> None:
        for attempt in range(40):
            client = "shared" if attempt % 2 else own
            if limiter.acquire(client) == 0:
                with lock:
                    admitted_by[client] += 1

    workers = [threading.Thread(target=hammer, args=(f"own-{n}",)) for n in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert admitted_by.pop("shared") == 25
    assert admitted_by == {f"own-{n}": 20 for n in range(8)}


# ------------------------------------------------------------------------------------------- the setting
@pytest.mark.parametrize(
    ("raw", "count", "window_s"),
    [("10/hour", 10, 3600), ("5/10 minutes", 5, 600), ("3/30 seconds", 3, 30), ("100/day", 100, 86400),
     ("1 per minute", 1, 60)],
)
def test_rates_are_parsed(raw: str, count: int, window_s: float) -> None:
    rate = settings_from_env({"FUSION_GENERATION_RATE": raw}).generation_rate
    assert rate is not None and (rate.amount, window_seconds(rate)) == (count, window_s)


@pytest.mark.parametrize("raw", ["10", "ten/hour", "10/fortnight", "10/", "-1/hour"])
def test_a_malformed_rate_is_refused_with_the_variable_named(raw: str) -> None:
    with pytest.raises(ValueError, match=r"FUSION_GENERATION_RATE: .*10/hour"):
        settings_from_env({"FUSION_GENERATION_RATE": raw})


def test_the_limit_is_on_by_default_on_spaces_only_and_can_be_turned_off() -> None:
    assert settings_from_env({}).generation_rate is None
    on_spaces = settings_from_env({"SYSTEM": "spaces"}).generation_rate
    assert on_spaces == parse_rate(SPACES_GENERATION_RATE)
    assert settings_from_env({"SYSTEM": "spaces", "FUSION_GENERATION_RATE": "off"}).generation_rate is None


@pytest.mark.parametrize(
    ("env", "trusted"),
    [
        ({}, False),
        ({"SYSTEM": "spaces"}, True),
        ({"SYSTEM": "spaces", "FUSION_TRUST_FORWARDED_FOR": "0"}, False),
        ({"FUSION_TRUST_FORWARDED_FOR": "1"}, True),
    ],
)
def test_the_forwarded_header_is_trusted_on_spaces_or_when_told(env: dict[str, str], trusted: bool) -> None:
    assert settings_from_env(env).trust_forwarded_for is trusted


def test_a_malformed_trust_flag_is_refused() -> None:
    with pytest.raises(ValueError, match="FUSION_TRUST_FORWARDED_FOR must be 1"):
        settings_from_env({"FUSION_TRUST_FORWARDED_FOR": "maybe"})


# ------------------------------------------------------------------------------------------ who is asking
def _request(forwarded: str | None = None, host: str = "10.0.0.9") -> SimpleNamespace:
    headers = {} if forwarded is None else {"X-Forwarded-For": forwarded}
    return SimpleNamespace(headers=headers, client=SimpleNamespace(host=host))


def _door(**options: object) -> Door:
    return Door(**({"lane_size": 6, "client_gpu": 2, "client_cpu": 3} | options))  # type: ignore[arg-type]


def test_the_logged_in_user_is_the_client() -> None:
    assert _door(trust_forwarded_for=True).client(_request("8.8.8.8"), "alice") == "user:alice"
    assert client_id("10.0.0.9", None, None, trust_forwarded_for=False) != client_id(
        None, "10.0.0.9", None, trust_forwarded_for=False
    ), "a user name cannot pass for an address"


def test_a_forwarded_address_counts_only_when_trusted() -> None:
    forged = _request(forwarded="203.0.113.50")
    assert _door().client(forged, None) == "ip:10.0.0.9"
    assert _door(trust_forwarded_for=True).client(forged, None) == "ip:203.0.113.50"
    assert _door().client(None, None) == "unknown"


@pytest.mark.parametrize(
    ("header", "client"),
    [
        ("8.8.8.8", "8.8.8.8"),
        ("1.1.1.1, 8.8.8.8, 10.16.3.80", "8.8.8.8"),  # a forged entry on the left, an internal hop on the right
        ("garbage, 10.0.0.1", "10.0.0.1"),
        ("2001:4860:4860::8888", "2001:4860:4860::8888"),
        ("not an address", None),
        ("", None),
    ],
)
def test_the_client_is_the_right_most_public_forwarded_address(header: str, client: str | None) -> None:
    assert forwarded_client(header) == client


@pytest.mark.parametrize(
    ("rate", "text"),
    [("10/hour", "10 per hour"), ("5/10 minutes", "5 per 10 minutes"), ("3/90 minutes", "3 per 90 minutes"),
     ("1/day", "1 per day"), ("4/45 seconds", "4 per 45 seconds")],
)
def test_limits_are_described_in_words(rate: str, text: str) -> None:
    assert describe_limit(parse_rate(rate)) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.2, "1 second"), (30, "30 seconds"), (89, "89 seconds"), (715, "12 minutes"), (3599, "60 minutes"),
     (7200, "2 hours"), (7201, "3 hours")],
)
def test_waits_are_rounded_up_in_words(seconds: float, text: str) -> None:
    assert describe_wait(seconds) == text


# ------------------------------------------------------------------------------------- the door, alone
def _event(lane: str, host: str) -> SimpleNamespace:
    fn = SimpleNamespace(concurrency_id=GPU_CONCURRENCY_ID if lane == "gpu" else "features")
    return SimpleNamespace(fn=fn, request=_request(host=host), username=None)


def _queue(*events: SimpleNamespace) -> SimpleNamespace:
    lanes: dict[str, list[SimpleNamespace]] = {}
    for event in events:
        lanes.setdefault(event.fn.concurrency_id, []).append(event)
    return SimpleNamespace(event_queue_per_concurrency_id={key: SimpleNamespace(queue=q) for key, q in lanes.items()})


def _gpu_fn(limited: bool = False) -> SimpleNamespace:
    def generate() -> None: ...

    return SimpleNamespace(concurrency_id=GPU_CONCURRENCY_ID, fn=rate_limited(generate) if limited else generate)


def test_a_client_may_hold_only_its_share_of_a_lane() -> None:
    door = _door()
    queue = _queue(_event("gpu", "10.0.0.1"), _event("gpu", "10.0.0.1"), _event("cpu", "10.0.0.1"))
    refusal = door.refusal(queue, _gpu_fn(), "ip:10.0.0.1", "gpu")
    assert refusal == CLIENT_FULL.format(count=2)
    assert door.refusal(queue, _gpu_fn(), "ip:10.0.0.2", "gpu") is None, "another client still gets in"
    assert door.refusal(queue, SimpleNamespace(concurrency_id="features", fn=None), "ip:10.0.0.1", "cpu") is None


def test_a_full_lane_refuses_everybody_but_leaves_the_other_lane_open() -> None:
    door = _door()
    queue = _queue(*(_event("gpu", f"10.0.0.{n}") for n in range(6)))
    assert door.refusal(queue, _gpu_fn(), "ip:10.0.1.1", "gpu") == LANE_FULL.format(count=6, lane="GPU")
    assert door.refusal(queue, SimpleNamespace(concurrency_id="x", fn=None), "ip:10.0.1.1", "cpu") is None


def test_the_rate_limit_counts_admitted_joins_of_marked_events_only() -> None:
    door = _door(generation_rate=parse_rate("2/hour"))
    empty = _queue()
    assert door.refusal(empty, _gpu_fn(limited=False), "ip:1", "gpu") is None
    assert door.refusal(empty, _gpu_fn(limited=True), "ip:1", "gpu") is None
    assert door.refusal(empty, _gpu_fn(limited=True), "ip:1", "gpu") is None
    assert "Generation limit reached: 2 per hour" in door.refusal(empty, _gpu_fn(limited=True), "ip:1", "gpu")
    full = _queue(_event("gpu", "2"), _event("gpu", "2"))
    assert door.refusal(full, _gpu_fn(limited=True), "ip:2", "gpu") == CLIENT_FULL.format(count=2)
    assert door.refusal(empty, _gpu_fn(limited=True), "ip:2", "gpu") is None, "the refused join was not counted"


# ------------------------------------------------------------------------------------- through the app API
@pytest.fixture(scope="module")
def limited_url(tiny_settings, tiny_cache, tmp_path_factory: pytest.TempPathFactory):
    """The whole app with 2 generations per hour per client, trusting X-Forwarded-For to tell clients apart."""
    from app import build_demo, launch_options

    settings = replace(tiny_settings, generation_rate=parse_rate("2/hour"), trust_forwarded_for=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio-temp-limited")))
        demo = build_demo(settings, tiny_cache)
        options = launch_options(settings) | {"server_port": None, "quiet": True, "prevent_thread_lock": True}
        _app, url, _share = demo.launch(**options)
        yield url
        demo.close()


def _client(url: str, address: str) -> Client:
    return Client(url, verbose=False, headers={"X-Forwarded-For": address})


def _generate(client: Client) -> str:
    gallery, *_ = client.predict(prompt="a red house", steps=1, seed=3, api_name="/generate")
    return gallery[0]["image"]


def test_past_the_limit_generation_is_refused_at_join_and_the_rest_of_the_app_serves(limited_url: str) -> None:
    client = _client(limited_url, "203.0.113.1")
    parameters = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/generate"]["parameters"]
    assert "request" not in {parameter["parameter_name"] for parameter in parameters}
    assert Path(_generate(client)).is_file() and Path(_generate(client)).is_file()
    with pytest.raises(ValidationError, match=REFUSED):
        _generate(client)
    cat = handle_file(ASSETS / "chelsea.png")
    with pytest.raises(ValidationError, match=REFUSED):
        client.predict(image=cat, prompt="a cat", steps=1, api_name="/edges_to_image")
    _image, stats, _notices = client.predict(image=cat, operation="Canny edges", api_name="/features")
    assert stats
    assert "caption" in client.predict(image=cat, prompt="", labels="cat, dog", api_name="/report"), (
        "no diffusion, no limit"
    )


def test_another_client_is_not_limited_by_the_first(limited_url: str) -> None:
    first, second = _client(limited_url, "203.0.113.2"), _client(limited_url, "203.0.113.3")
    _generate(first)
    _generate(first)
    with pytest.raises(ValidationError, match=REFUSED):
        _generate(first)
    assert Path(_generate(second)).is_file()
