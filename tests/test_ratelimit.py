"""The optional generation rate limit: the limiter alone, its setting, client identity, and the running app."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace
from pathlib import Path

import gradio as gr
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from fusion.config import settings_from_env
from fusion.ratelimit import RateLimit, RateLimiter, client_id, forwarded_client
from fusion.ui.limits import GenerationGate, admitted, describe_limit, describe_wait

ASSETS = Path(__file__).resolve().parents[1] / "assets"
REFUSED = r"Generation limit reached: 2 per hour per user\. Try again in \d+ minutes\."


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _limiter(count: int, window_s: float, **options) -> tuple[RateLimiter, FakeClock]:
    clock = FakeClock()
    return RateLimiter(RateLimit(count, window_s), clock=clock, **options), clock


def _acquire_at(limiter: RateLimiter, clock: FakeClock, now: float, client: str = "a") -> float:
    clock.now = now
    return limiter.acquire(client)


# -------------------------------------------------------------------------------------------- the limiter
def test_uses_are_counted_in_a_sliding_window_and_a_refusal_says_how_long_to_wait() -> None:
    limiter, clock = _limiter(3, 60)
    assert [_acquire_at(limiter, clock, t) for t in (0, 10, 20)] == [0, 0, 0]
    assert _acquire_at(limiter, clock, 30) == pytest.approx(30)
    assert _acquire_at(limiter, clock, 59.5) == pytest.approx(0.5)
    assert _acquire_at(limiter, clock, 60) == 0, "the use at 0 s has left the window"
    assert _acquire_at(limiter, clock, 61) == pytest.approx(9), "the oldest use left is the one at 10 s"


def test_refused_requests_are_not_counted() -> None:
    limiter, clock = _limiter(1, 10)
    assert _acquire_at(limiter, clock, 0) == 0
    assert all(_acquire_at(limiter, clock, 1 + i / 100) > 0 for i in range(500))
    assert _acquire_at(limiter, clock, 10) == 0


def test_each_client_has_its_own_budget() -> None:
    limiter, clock = _limiter(2, 60)
    assert [_acquire_at(limiter, clock, 0, client) for client in ("a", "a", "b", "b")] == [0, 0, 0, 0]
    assert _acquire_at(limiter, clock, 1, "a") > 0 and _acquire_at(limiter, clock, 1, "b") > 0
    assert _acquire_at(limiter, clock, 1, "c") == 0


def test_idle_clients_are_forgotten() -> None:
    limiter, clock = _limiter(5, 60)
    for client in range(1000):
        _acquire_at(limiter, clock, client / 100, str(client))
    assert limiter.clients() == 1000
    _acquire_at(limiter, clock, 60 + 5, "newcomer")
    assert limiter.clients() == 1 + 499, "only the clients last seen after 5 s (a window ago) are left"
    _acquire_at(limiter, clock, 200, "newcomer")
    assert limiter.clients() == 1


def test_memory_is_bounded_by_the_number_of_clients() -> None:
    limiter, clock = _limiter(1, 3600, max_clients=10)
    for client in range(50):
        assert _acquire_at(limiter, clock, client, str(client)) == 0
    assert limiter.clients() == 10
    assert _acquire_at(limiter, clock, 51, "49") > 0, "the most recent clients are still limited"
    assert _acquire_at(limiter, clock, 52, "0") == 0, "the least recently admitted one was forgotten first"


def test_many_threads_at_once_get_exactly_the_allowed_uses() -> None:
    limiter = RateLimiter(RateLimit(25, 3600))
    threads, attempts = 32, 20
    start = threading.Barrier(threads)
    admitted_by: Counter[str] = Counter()
    lock = threading.Lock()

    def hammer(own: str) -> None:
        start.wait()
        for attempt in range(attempts):
            client = "shared" if attempt % 2 else own
            if limiter.acquire(client) == 0:
                with lock:
                    admitted_by[client] += 1

    workers = [threading.Thread(target=hammer, args=(f"own-{n}",)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert admitted_by.pop("shared") == 25
    assert admitted_by == {f"own-{n}": attempts // 2 for n in range(threads)}
    assert limiter.clients() == threads + 1


# ------------------------------------------------------------------------------------------- the setting
@pytest.mark.parametrize(
    ("raw", "count", "window_s"),
    [
        ("10/hour", 10, 3600),
        ("5/10min", 5, 600),
        ("3/30s", 3, 30),
        ("100/day", 100, 86400),
        (" 2 / 1.5 h ", 2, 5400),
        ("7/90", 7, 90),
        ("1/Minute", 1, 60),
    ],
)
def test_rates_are_parsed(raw: str, count: int, window_s: float) -> None:
    assert RateLimit.parse(raw) == RateLimit(count, window_s)
    assert settings_from_env({"FUSION_GENERATION_RATE": raw}).generation_rate == RateLimit(count, window_s)


@pytest.mark.parametrize("raw", ["10", "ten/hour", "10/fortnight", "10/", "-1/hour", "10 per hour", "0/hour", "5/0s"])
def test_a_malformed_rate_is_refused_with_the_variable_named(raw: str) -> None:
    with pytest.raises(ValueError, match=r"FUSION_GENERATION_RATE: .*(10/hour|at least 1)"):
        settings_from_env({"FUSION_GENERATION_RATE": raw})


def test_the_limit_is_off_unless_set() -> None:
    assert settings_from_env({}).generation_rate is None
    assert settings_from_env({"FUSION_GENERATION_RATE": "  "}).generation_rate is None


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
def _request(username: str | None = None, forwarded: str | None = None, host: str = "10.0.0.9") -> gr.Request:
    headers = {} if forwarded is None else {"x-forwarded-for": forwarded}
    return gr.Request(username=username, headers=headers, client={"host": host})


def test_the_logged_in_user_is_the_client() -> None:
    gate = GenerationGate(RateLimiter(RateLimit(1, 60)), trust_forwarded_for=True)
    assert gate.client(_request("alice", forwarded="8.8.8.8")) == "user:alice"
    assert client_id("10.0.0.9", None, None, trust_forwarded_for=False) != client_id(
        None, "10.0.0.9", None, trust_forwarded_for=False
    ), "a user name cannot pass for an address"


def test_a_forwarded_address_counts_only_when_trusted() -> None:
    forged = _request(forwarded="203.0.113.50")
    assert GenerationGate(RateLimiter(RateLimit(1, 60))).client(forged) == "ip:10.0.0.9"
    assert GenerationGate(RateLimiter(RateLimit(1, 60)), trust_forwarded_for=True).client(forged) == "ip:203.0.113.50"
    assert GenerationGate(RateLimiter(RateLimit(1, 60))).client(None) == "unknown"


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


def test_the_gate_refuses_with_the_limit_and_the_wait() -> None:
    limiter, clock = _limiter(10, 3600)
    gate = GenerationGate(limiter)
    for _ in range(10):
        gate(_request())
    clock.now = 2880
    with pytest.raises(gr.Error, match=r"Generation limit reached: 10 per hour per user\. Try again in 12 minutes\."):
        gate(_request())
    gate(_request(host="10.0.0.10"))


@pytest.mark.parametrize(
    ("limit", "text"),
    [
        (RateLimit(10, 3600), "10 per hour"),
        (RateLimit(5, 600), "5 per 10 minutes"),
        (RateLimit(3, 5400), "3 per 90 minutes"),
        (RateLimit(1, 86400), "1 per day"),
        (RateLimit(4, 45), "4 per 45 seconds"),
        (RateLimit(2, 0.5), "2 per 0.5 seconds"),
    ],
)
def test_limits_are_described_in_words(limit: RateLimit, text: str) -> None:
    assert describe_limit(limit) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.2, "1 second"),
        (30, "30 seconds"),
        (89, "89 seconds"),
        (715, "12 minutes"),
        (3599, "60 minutes"),
        (7200, "2 hours"),
        (7201, "3 hours"),
    ],
)
def test_waits_are_rounded_up_in_words(seconds: float, text: str) -> None:
    assert describe_wait(seconds) == text


def test_without_a_limit_the_event_function_is_left_alone() -> None:
    def event(prompt: str) -> str:
        return prompt

    assert admitted(event, None) is event


def test_an_admitted_event_keeps_its_api_and_gains_a_request_parameter() -> None:
    from gradio.utils import get_function_params

    seen: list[gr.Request | None] = []

    def stream(prompt: str | None, steps: float | None = 1, progress: gr.Progress = gr.Progress()):  # noqa: B008
        """Docs for the MCP tool."""
        yield prompt, steps

    event = admitted(stream, seen.append)
    assert [name for name, *_ in get_function_params(event)] == ["prompt", "steps", "progress"]
    assert event.__doc__ == stream.__doc__ and event.__name__ == "stream"
    request = _request()
    assert list(event("a", 3, gr.Progress(), request)) == [("a", 3)]
    assert list(event(prompt="b", request=None)) == [("b", 1)]
    assert seen == [request, None]


# ------------------------------------------------------------------------------------- through the app API
@pytest.fixture(scope="module")
def limited_url(tiny_settings, tiny_cache, tmp_path_factory: pytest.TempPathFactory):
    """The whole app with 2 generations per hour per client, trusting X-Forwarded-For to tell clients apart."""
    from app import build_demo, launch_options

    settings = replace(tiny_settings, generation_rate=RateLimit(2, 3600), trust_forwarded_for=True)
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


def test_past_the_limit_generation_is_refused_and_the_rest_of_the_app_serves(limited_url: str) -> None:
    client = _client(limited_url, "203.0.113.1")
    parameters = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/generate"]["parameters"]
    assert "request" not in {parameter["parameter_name"] for parameter in parameters}
    assert Path(_generate(client)).is_file() and Path(_generate(client)).is_file()
    with pytest.raises(AppError, match=REFUSED):
        _generate(client)
    cat = handle_file(ASSETS / "chelsea.png")
    with pytest.raises(AppError, match=REFUSED):
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
    with pytest.raises(AppError, match=REFUSED):
        _generate(first)
    assert Path(_generate(second)).is_file()
