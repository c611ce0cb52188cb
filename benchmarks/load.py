"""Load test and soak of the whole app over loopback: concurrent gradio_client users mixing every endpoint.

Starts ``python app.py`` with ``FUSION_MODELS=tiny`` on a free loopback port (its own ``GRADIO_TEMP_DIR``),
warms every endpoint up once, then:

* load: ``--clients`` users, each with its own ``gradio_client.Client``, send ``--requests`` requests one
  after another, cycling through :data:`CALLS` (every public endpoint: features, caption, caption_batch,
  answer, suggest_labels, classify, explain, generate, status) from different starting points. A request is
  *answered* (a result), an *error* (the app answered with ``gr.Error``) or *lost* (no answer: a timeout, a
  full queue, a dropped connection). Reports the counts and p50 / p95 latency per endpoint. Goal: 0 lost
  at 16 x 10.
* CPU while the GPU group is busy: a long ``generate`` (the GPU queue, one event at a time) runs while
  ``/features`` requests (the CPU queue) are timed; they must answer before it ends.
* ``--soak N``: N more mixed requests from the same ``--soak-clients`` users, after a warm-up chunk; the
  server's resident memory (RSS) and open file descriptors before, every 100 requests and after (goal: growth
  < 5 %), and the files in ``GRADIO_TEMP_DIR`` before, after, and after the server shut down on Ctrl+C
  (``delete_cache`` removes what the app created). Then what ``--sessions`` new users cost in memory.

Bounded: at most ``--clients x --requests`` and ``--soak`` requests, none started after ``--time-limit``
seconds, each given at most ``--timeout`` seconds.

    python benchmarks/load.py [--clients 16] [--requests 10] [--soak 1000] [--out benchmarks/results/load.md]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import psutil
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import Status

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import write_section

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "load.md"
REQUEST_TIMEOUT_S = 300.0
STARTUP_TIMEOUT_S = 180.0
SHUTDOWN_TIMEOUT_S = 30.0
#: Longer than gradio_client's heartbeat interval (15 s).
CLIENTS_LEAVE_S = 20.0
#: The soak's warm-up, and its smallest chunk: a snapshot follows every chunk, about SOAK_SNAPSHOTS in all.
SOAK_CHUNK = 100
SOAK_SNAPSHOTS = 10
SETTLE_S = 2.0

Arguments = dict[str, Any]
Verdict = Literal["answered", "error", "lost"]


@dataclass(frozen=True)
class Call:
    """One public endpoint and the keyword arguments of its ``n``-th request."""

    endpoint: str
    arguments: Callable[[int], Arguments]


def _picture(n: int) -> Any:
    names = ("chelsea.png", "astronaut.png", "coffee.png", "rocket.png", "brick.png", "camera.png")
    return handle_file(ASSETS / names[n % len(names)])


FEATURE_OPERATIONS = ("Canny edges", "ORB keypoints", "HOG", "Dominant colours", "CLAHE", "Contours")
CAPTIONS = ("a cat sitting on a wooden table", "two dogs running on the beach", "a red car parked by a house")
LABELS = ("cat, dog, car", "rocket, coffee, brick wall", "person, astronaut, camera")

STATUS = Call("/status", lambda n: {})
#: Every public endpoint with small, valid requests; ``n`` varies the picture, operation, text and seed.
CALLS: tuple[Call, ...] = (
    Call("/features", lambda n: {"image": _picture(n), "operation": FEATURE_OPERATIONS[n % 6]}),
    Call("/caption", lambda n: {"image": _picture(n)}),
    STATUS,
    Call("/classify", lambda n: {"image": _picture(n), "labels": LABELS[n % 3]}),
    Call("/suggest_labels", lambda n: {"caption": CAPTIONS[n % 3]}),
    Call("/generate", lambda n: {"prompt": CAPTIONS[n % 3], "steps": 4, "seed": n}),
    Call("/answer", lambda n: {"image": _picture(n), "question": "What is in the picture?"}),
    Call("/explain", lambda n: {"image": _picture(n), "labels": LABELS[n % 3]}),
    Call("/caption_batch", lambda n: {"files": [_picture(n), _picture(n + 1)]}),
)
#: The CPU request timed while the GPU group is busy, and the long GPU event that keeps it busy.
CPU_PROBE = Call("/features", lambda n: {"image": _picture(n), "operation": "Canny edges"})
BUSY_GPU = Call("/generate", lambda n: {"prompt": "a lighthouse at dusk", "steps": 100, "num_images": 4, "seed": n})
RUNNING = {Status.PROCESSING, Status.PROGRESS, Status.ITERATING}


@dataclass(frozen=True)
class Outcome:
    endpoint: str
    verdict: Verdict
    seconds: float
    detail: str = ""


@dataclass(frozen=True)
class LoadReport:
    outcomes: tuple[Outcome, ...]
    planned: int
    wall_s: float

    def count(self, verdict: Verdict) -> int:
        return sum(outcome.verdict == verdict for outcome in self.outcomes)

    @property
    def not_started(self) -> int:
        """Requests the time limit kept from starting (neither answered nor lost)."""
        return self.planned - len(self.outcomes)

    def by_endpoint(self) -> dict[str, list[Outcome]]:
        grouped: dict[str, list[Outcome]] = {}
        for outcome in self.outcomes:
            grouped.setdefault(outcome.endpoint, []).append(outcome)
        return dict(sorted(grouped.items()))


@dataclass(frozen=True)
class BusyProbe:
    """CPU request latencies with the GPU group idle and while one long GPU event runs."""

    idle_s: tuple[float, ...]
    busy_s: tuple[float, ...]
    #: CPU requests that were answered before the GPU event finished.
    answered_while_busy: int
    gpu_s: float
    gpu_verdict: Verdict


@dataclass(frozen=True)
class Snapshot:
    """The server process and its temporary folder at one moment."""

    requests: int
    rss_bytes: int
    open_fds: int
    threads: int
    temp_files: int
    temp_bytes: int


@dataclass(frozen=True)
class Server:
    """``python app.py`` on a loopback port, in its own process and temporary folders."""

    url: str
    process: subprocess.Popen[bytes]
    temp_dir: Path
    log: Path
    #: What the temporary folder held once the server answered (the cached examples' files).
    startup_files: frozenset[Path] = frozenset()

    def snapshot(self, requests: int) -> Snapshot:
        process = psutil.Process(self.process.pid)
        files, size = temp_usage(self.temp_dir)
        return Snapshot(requests, process.memory_info().rss, process.num_fds(), process.num_threads(), files, size)


# ------------------------------------------------------------------------------------------------ requests
def call_once(client: Client, call: Call, n: int, timeout_s: float = REQUEST_TIMEOUT_S) -> Outcome:
    """Send one request and wait for its answer; every failure to answer counts as lost, never raises."""
    started = time.perf_counter()
    try:
        client.submit(**call.arguments(n), api_name=call.endpoint).result(timeout=timeout_s)
    except AppError as error:
        return Outcome(call.endpoint, "error", time.perf_counter() - started, str(error)[:200])
    except Exception as error:
        return Outcome(call.endpoint, "lost", time.perf_counter() - started, f"{type(error).__name__}: {error}")
    return Outcome(call.endpoint, "answered", time.perf_counter() - started)


def _one_user(
    client: Client, first: int, requests: int, calls: Sequence[Call], deadline: float, timeout_s: float
) -> list[Outcome]:
    """One user's requests in turn; request number ``first``, ``first + 1``, ... picks the call and inputs."""
    outcomes = []
    for n in range(first, first + requests):
        if time.monotonic() > deadline:
            break
        outcomes.append(call_once(client, calls[n % len(calls)], n, timeout_s))
    return outcomes


def run_users(
    users: Sequence[Client],
    requests: int,
    calls: Sequence[Call] = CALLS,
    *,
    first: int = 0,
    time_limit_s: float = 600.0,
    timeout_s: float = REQUEST_TIMEOUT_S,
) -> LoadReport:
    """Every user sends ``requests`` requests in turn, all users at once; none starts after the time limit.

    User ``i`` sends requests ``first + i * requests`` onwards, so users start at different places in the mix.
    """
    deadline = time.monotonic() + time_limit_s
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(users), thread_name_prefix="load-user") as pool:
        work = [
            pool.submit(_one_user, user, first + index * requests, requests, calls, deadline, timeout_s)
            for index, user in enumerate(users)
        ]
        outcomes = tuple(outcome for user in work for outcome in user.result())
    return LoadReport(outcomes, len(users) * requests, time.perf_counter() - started)


@contextmanager
def connected(url: str, count: int) -> Iterator[list[Client]]:
    """``count`` API users, each a ``gradio_client.Client`` with a session of its own."""
    users = [Client(url, verbose=False) for _ in range(count)]
    try:
        yield users
    finally:
        for user in users:
            user.close()


def run_clients(url: str, clients: int, requests: int, **options: Any) -> LoadReport:
    """``clients`` new users (new sessions) with ``requests`` requests each; see :func:`run_users`."""
    with connected(url, clients) as users:
        return run_users(users, requests, **options)


def cpu_while_gpu_busy(
    url: str,
    probes: int = 5,
    cpu: Call = CPU_PROBE,
    gpu: Call = BUSY_GPU,
    timeout_s: float = REQUEST_TIMEOUT_S,
) -> BusyProbe:
    """Time ``probes`` CPU requests idle, then while one long GPU event (from another client) runs."""
    client, gpu_client = Client(url, verbose=False), Client(url, verbose=False)
    try:
        idle = tuple(call_once(client, cpu, n, timeout_s).seconds for n in range(probes))
        started = time.perf_counter()
        job = gpu_client.submit(**gpu.arguments(0), api_name=gpu.endpoint)
        while job.status().code not in RUNNING and not job.done():
            time.sleep(0.02)
        busy, answered_while_busy = [], 0
        for n in range(probes):
            outcome = call_once(client, cpu, n, timeout_s)
            busy.append(outcome.seconds)
            answered_while_busy += outcome.verdict == "answered" and not job.done()
        try:
            job.result(timeout=timeout_s)
            gpu_verdict: Verdict = "answered"
        except AppError:
            gpu_verdict = "error"
        except Exception:
            gpu_verdict = "lost"
        return BusyProbe(idle, tuple(busy), answered_while_busy, time.perf_counter() - started, gpu_verdict)
    finally:
        client.close()
        gpu_client.close()


def percentile_ms(seconds: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(seconds) * 1000.0, q))


# -------------------------------------------------------------------------------------------------- server
def temp_files(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if path.is_file()}


def temp_usage(folder: Path) -> tuple[int, int]:
    """How many files ``folder`` holds (recursively) and their total size in bytes."""
    files = temp_files(folder)
    return len(files), sum(path.stat().st_size for path in files)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(
    work: Path, tiny_dir: Path | None, *, root: Path = ROOT, extra_env: dict[str, str] | None = None
) -> Server:
    """``python app.py`` (of the checkout at ``root``) with tiny models on a free loopback port, with ``extra_env``
    on top of the benchmark's environment; returns once it answers API clients."""
    port = _free_port()
    temp_dir, log = work / "gradio-temp", work / "server.log"
    temp_dir.mkdir()
    env = os.environ | {
        "FUSION_MODELS": "tiny",
        "FUSION_DEVICE": "cpu",
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_TEMP_DIR": str(temp_dir),
        "GRADIO_EXAMPLES_CACHE": str(work / "examples"),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
    }
    if tiny_dir is not None:
        env["FUSION_TINY_DIR"] = str(tiny_dir)
    env |= extra_env or {}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "app.py"], cwd=root, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    server = Server(f"http://127.0.0.1:{port}/", process, temp_dir, log)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with {process.returncode}; see {log}:\n{log.read_text()[-2000:]}")
        try:
            Client(server.url, verbose=False).close()
            return replace(server, startup_files=frozenset(temp_files(temp_dir)))
        except Exception:
            time.sleep(0.5)
    stop_server(server)
    raise RuntimeError(f"app.py did not answer within {STARTUP_TIMEOUT_S:.0f} s; see {log}")


@dataclass(frozen=True)
class Shutdown:
    seconds: float
    #: The server exited by itself after Ctrl+C (not killed after SHUTDOWN_TIMEOUT_S).
    graceful: bool
    temp_files_left: int
    #: Of those, files written while serving requests (not there at start-up).
    written_files_left: int


def wait_for_clients_to_leave(server: Server, timeout_s: float = CLIENTS_LEAVE_S) -> None:
    """Until no client connection is open: a closed ``gradio_client`` drops its heartbeat stream only at the
    next heartbeat (15 s), and while one is open Ctrl+C cannot finish in the 5 s Gradio gives the server, so
    the shutdown that deletes the app's files never runs."""
    gc.collect()
    process = psutil.Process(server.process.pid)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(
        connection.status == psutil.CONN_ESTABLISHED for connection in process.net_connections("tcp")
    ):
        time.sleep(0.5)


def stop_server(server: Server) -> Shutdown:
    """Ctrl+C, as a user stops it: Gradio closes the app and deletes the files it made (``delete_cache``)."""
    wait_for_clients_to_leave(server)
    started = time.perf_counter()
    graceful = True
    server.process.send_signal(signal.SIGINT)
    try:
        server.process.wait(timeout=SHUTDOWN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        graceful = False
        server.process.kill()
        server.process.wait()
    left = temp_files(server.temp_dir)
    return Shutdown(time.perf_counter() - started, graceful, len(left), len(left - server.startup_files))


def warm_up(url: str) -> None:
    """One request to every endpoint, so tiny twins are built and models loaded before anything is timed."""
    client = Client(url, verbose=False)
    try:
        for call in (*CALLS, BUSY_GPU):
            outcome = call_once(client, call, 0)
            if outcome.verdict != "answered":
                raise RuntimeError(f"warm-up {call.endpoint} failed: {outcome.detail}")
    finally:
        client.close()


def soak(server: Server, requests: int, clients: int, time_limit_s: float) -> tuple[list[Snapshot], LoadReport]:
    """``requests`` mixed requests from the same users in chunks, with a snapshot after every chunk.

    The same users (sessions) throughout, so growth means per-request growth (:func:`session_cost` prices a
    new session). The first snapshot follows one uncounted warm-up chunk from these users: their sessions,
    worker threads and allocator arenas are set up once, which is not growth.
    """
    reports = []
    deadline = time.monotonic() + time_limit_s
    done = 0
    with connected(server.url, clients) as users:
        run_users(users, SOAK_CHUNK // clients, first=requests, time_limit_s=time_limit_s)
        time.sleep(SETTLE_S)
        snapshots = [server.snapshot(0)]
        while done < requests and time.monotonic() < deadline:
            chunk = min(max(SOAK_CHUNK, requests // SOAK_SNAPSHOTS), requests - done)
            per_user = max(1, chunk // clients)
            report = run_users(users, per_user, first=done, time_limit_s=deadline - time.monotonic())
            reports.append(report)
            done += len(report.outcomes)
            time.sleep(SETTLE_S)
            snapshots.append(server.snapshot(done))
    outcomes = [outcome for report in reports for outcome in report.outcomes]
    return snapshots, LoadReport(tuple(outcomes), requests, sum(report.wall_s for report in reports))


def session_cost(server: Server, sessions: int) -> tuple[Snapshot, Snapshot]:
    """Snapshots before and after ``sessions`` new users that send one ``/status`` request each and leave."""
    before = server.snapshot(0)
    for n in range(sessions):
        with connected(server.url, 1) as (user,):
            call_once(user, STATUS, n)
    gc.collect()
    time.sleep(SETTLE_S)
    return before, server.snapshot(sessions)


# -------------------------------------------------------------------------------------------------- report
def _mb(size: int) -> str:
    return f"{size / 2**20:.1f}"


def _growth(before: float, after: float) -> float:
    return 100.0 * (after - before) / before


def summary(report: LoadReport) -> str:
    return (
        f"{report.count('answered')} answered, {report.count('error')} errors, {report.count('lost')} lost, "
        f"{report.not_started} not started (time limit) in {report.wall_s:.1f} s"
    )


def load_table(report: LoadReport) -> list[str]:
    lines = [
        "| endpoint | requests | answered | errors | lost | p50 (ms) | p95 (ms) | max (ms) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for endpoint, outcomes in report.by_endpoint().items():
        part = LoadReport(tuple(outcomes), len(outcomes), report.wall_s)
        seconds = [outcome.seconds for outcome in outcomes if outcome.verdict == "answered"] or [float("nan")]
        latency = [percentile_ms(seconds, 50), percentile_ms(seconds, 95), max(seconds) * 1000]
        lines.append(
            f"| `{endpoint}` | {len(outcomes)} | {part.count('answered')} | {part.count('error')} | "
            f"{part.count('lost')} | " + " | ".join(f"{ms:.0f}" for ms in latency) + " |"
        )
    return lines


def problems(report: LoadReport) -> list[str]:
    """The first few errors and lost requests, for the report."""
    failed = [outcome for outcome in report.outcomes if outcome.verdict != "answered"]
    return [f"- `{outcome.endpoint}` {outcome.verdict}: {outcome.detail}" for outcome in failed[:10]]


def busy_lines(probe: BusyProbe) -> list[str]:
    busy = BUSY_GPU.arguments(0)
    rows = {"GPU group idle": probe.idle_s, "while the long `/generate` runs": probe.busy_s}
    return [
        "| `/features` (Canny, CPU queue) | requests | p50 (ms) | max (ms) |",
        "| --- | ---: | ---: | ---: |",
        *(
            f"| {name} | {len(seconds)} | {percentile_ms(seconds, 50):.0f} | {max(seconds) * 1000:.0f} |"
            for name, seconds in rows.items()
        ),
        "",
        f"The long `/generate` ({busy['steps']} steps x {busy['num_images']} images) took "
        f"{probe.gpu_s:.1f} s ({probe.gpu_verdict}); {probe.answered_while_busy} of {len(probe.busy_s)} CPU "
        "requests were answered before it finished.",
    ]


def session_lines(before: Snapshot, after: Snapshot) -> list[str]:
    sessions = after.requests
    per_session_kb = (after.rss_bytes - before.rss_bytes) / sessions / 1024
    bound = (
        f"at that default, about {per_session_kb * 10_000 / 2**20:.1f} GB"
        if per_session_kb > 0
        else "no growth was measurable here"
    )
    return [
        f"{sessions} new API users, one `/status` request each: RSS {_mb(before.rss_bytes)} -> "
        f"{_mb(after.rss_bytes)} MB ({per_session_kb:+.0f} kB per session), open fds {before.open_fds} -> "
        f"{after.open_fds}. Gradio keeps every session's state (a copy of the app's config) until "
        f"`state_session_capacity` newer sessions have come (`queue()`, default 10,000): {bound}.",
    ]


def soak_lines(snapshots: Sequence[Snapshot], report: LoadReport, shutdown: Shutdown) -> list[str]:
    first, middle, last = snapshots[0], snapshots[len(snapshots) // 2], snapshots[-1]
    rss, fds = _growth(first.rss_bytes, last.rss_bytes), _growth(first.open_fds, last.open_fds)
    per_request_kb = (last.temp_bytes - first.temp_bytes) / max(len(report.outcomes), 1) / 1024
    return [
        "| requests done | RSS (MB) | open fds | threads | temp files | temp size (MB) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {s.requests} | {_mb(s.rss_bytes)} | {s.open_fds} | {s.threads} | {s.temp_files} | {_mb(s.temp_bytes)} |"
            for s in snapshots
        ),
        "",
        f"{summary(report)}.",
        f"Growth from the first to the last snapshot: RSS {rss:+.1f} %, open fds {fds:+.1f} % "
        f"(goal < 5 %: {'met' if max(rss, fds) < 5 else 'NOT met'}); over the second half ({middle.requests} "
        f"to {last.requests} requests): RSS {_growth(middle.rss_bytes, last.rss_bytes):+.1f} %, open fds "
        f"{_growth(middle.open_fds, last.open_fds):+.1f} %.",
        f"Temporary files: {first.temp_files} before, {last.temp_files} after ({per_request_kb:.1f} kB per "
        f"request), {shutdown.temp_files_left} after the server shut down ("
        + (f"Ctrl+C, {shutdown.seconds:.1f} s" if shutdown.graceful else "killed: it ignored Ctrl+C")
        + f"), {shutdown.written_files_left} of them written while serving (the others: cached examples).",
    ]


def section_title(args: argparse.Namespace) -> str:
    """One section of the results file per run kind (a rerun of the same kind replaces it)."""
    soak_part = f", soak of {args.soak}" if args.soak else ""
    return f"Tiny models on CPU: {args.clients} clients x {args.requests} requests{soak_part}"


def markdown(
    args: argparse.Namespace,
    load: LoadReport,
    probe: BusyProbe,
    soak_result: tuple[list[Snapshot], LoadReport, tuple[Snapshot, Snapshot]] | None,
    shutdown: Shutdown,
) -> str:
    command = f"python benchmarks/load.py --clients {args.clients} --requests {args.requests}" + (
        f" --soak {args.soak} --soak-clients {args.soak_clients} --sessions {args.sessions}" if args.soak else ""
    )
    lines = [
        f"## {section_title(args)}",
        "",
        f"`{command}`: `python app.py` with `FUSION_MODELS=tiny` (CPU) on loopback, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPU cores shared with other work. Latency: a "
        "request's submit-to-answer time seen by its client, queueing included. The GPU group (caption, "
        "caption_batch, answer, classify, explain, generate) runs one event at a time, CPU events up to "
        "`FUSION_CPU_CONCURRENCY` (4) at once.",
        "",
        f"### {args.clients} clients x {args.requests} requests, every endpoint mixed",
        "",
        *load_table(load),
        "",
        f"{summary(load)}; goal 0 lost: {'met' if load.count('lost') == 0 else 'NOT met'}.",
        *problems(load),
        "",
        "### CPU panels while the GPU group is busy",
        "",
        *busy_lines(probe),
    ]
    if soak_result is not None:
        snapshots, report, sessions = soak_result
        lines += [
            "",
            f"### Soak: {args.soak} mixed requests, the same {args.soak_clients} clients throughout",
            "",
            f"A snapshot after every {snapshots[1].requests} requests; the first follows an uncounted "
            f"warm-up of {SOAK_CHUNK} requests from the same clients.",
            "",
            *soak_lines(snapshots, report, shutdown),
            *problems(report),
            "",
            "### What a new session costs",
            "",
            *session_lines(*sessions),
        ]
    return "\n".join([*lines, ""])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=10, help="requests per client")
    parser.add_argument("--soak", type=int, default=0, help="mixed requests of the soak (0: no soak)")
    parser.add_argument("--soak-clients", type=int, default=4)
    parser.add_argument("--sessions", type=int, default=100, help="new sessions priced after the soak")
    parser.add_argument("--probes", type=int, default=5, help="CPU requests timed while the GPU group is busy")
    parser.add_argument("--time-limit", type=float, default=900.0, help="seconds after which no request starts")
    parser.add_argument("--timeout", type=float, default=REQUEST_TIMEOUT_S, help="seconds one request may take")
    parser.add_argument("--tiny-dir", type=Path, help="where the tiny twins are built (default: a temp folder)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fusion-load-") as temporary:
        work = Path(temporary)
        server = start_server(work, args.tiny_dir or work / "tiny")
        try:
            warm_up(server.url)
            load = run_clients(
                server.url, args.clients, args.requests, time_limit_s=args.time_limit, timeout_s=args.timeout
            )
            print(*load_table(load), sep="\n", flush=True)
            probe = cpu_while_gpu_busy(server.url, args.probes, timeout_s=args.timeout)
            print(*busy_lines(probe), sep="\n", flush=True)
            soak_result = None
            if args.soak:
                snapshots, report = soak(server, args.soak, args.soak_clients, args.time_limit)
                soak_result = (snapshots, report, session_cost(server, args.sessions))
        finally:
            shutdown = stop_server(server)
    text = markdown(args, load, probe, soak_result, shutdown)
    write_section(args.out, section_title(args), text, heading="Load test and soak")
    print(text)
    return 0 if load.count("lost") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
