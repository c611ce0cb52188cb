"""A small load test of the running app (the full one, and the soak, is ``benchmarks/load.py``).

Concurrent ``gradio_client`` users mix every public endpoint and nothing may be lost, and a CPU panel keeps
answering while the GPU group (one event at a time) is busy with a long generation.
"""

from __future__ import annotations

from benchmarks.load import BUSY_GPU, CALLS, Call, cpu_while_gpu_busy, run_clients

CLIENTS = 4
REQUESTS = 3
#: Long enough on the tiny twins (about 2 s) for the CPU requests below to be timed while it runs.
BUSY_GENERATE = Call(BUSY_GPU.endpoint, lambda n: BUSY_GPU.arguments(n) | {"num_images": 1})
TIMEOUT_S = 60.0


def test_concurrent_clients_mixing_every_endpoint_lose_nothing(app_url: str) -> None:
    report = run_clients(app_url, CLIENTS, REQUESTS, time_limit_s=TIMEOUT_S, timeout_s=TIMEOUT_S)
    failed = [outcome for outcome in report.outcomes if outcome.verdict != "answered"]
    assert not failed, failed
    assert report.not_started == 0
    assert set(report.by_endpoint()) == {call.endpoint for call in CALLS}


def test_a_cpu_panel_answers_while_the_gpu_group_is_busy(app_url: str) -> None:
    probe = cpu_while_gpu_busy(app_url, probes=3, gpu=BUSY_GENERATE, timeout_s=TIMEOUT_S)
    assert probe.gpu_verdict == "answered"
    assert probe.answered_while_busy == len(probe.busy_s) == 3
    assert max(probe.busy_s) < probe.gpu_s
