"""What one hostile visitor can do to everyone else, measured over loopback against ``python app.py`` (tiny models).

Starts the app of a checkout (this one, or ``--root`` an older one, to compare) in its own process, trusting
``X-Forwarded-For`` so that the benchmark's clients count as different visitors, as they do behind a Space's
proxy, then:

* **flood**: one client sends ``--flood`` raw ``queue/join`` requests for long ``/generate`` runs at once; how
  many were admitted, and whether (and how fast) another client's ``/features`` is answered meanwhile;
* **downloads**: ``--clients`` clients send ``--requests`` identical ``/features`` requests each and download
  every result; a download fails when it is cut short, is not a whole PNG, or the request fails;
* **decodes**: ``--decodes`` clients at once upload a worst-case picture (a small flat PNG that declares
  7999 x 7999 pixels, then the largest picture the app accepts) to ``/features``; the server's peak resident
  memory (RSS) above its idle level, polled every 10 ms.

    python benchmarks/abuse.py [--root OTHER_CHECKOUT] [--out benchmarks/results/abuse.md]
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from gradio_client import Client, handle_file
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import table, write_section
from benchmarks.load import ROOT, Server, start_server, stop_server

ASSETS = ROOT / "assets"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "abuse.md"
FLOOD_PROMPT = "a lighthouse at dusk"
#: The largest flat RGB PNG the app decodes with the default 256 MB per decode (fusion/images.py).
LARGEST_ACCEPTED = 7000
ATTACK_SIDE = 7999


def _client(url: str, address: str, **options: Any) -> Client:
    return Client(url, verbose=False, headers={"X-Forwarded-For": address}, **options)


def _flat_png(side: int, folder: Path) -> Path:
    path = folder / f"flat-{side}.png"
    Image.new("RGB", (side, side), (90, 90, 90)).save(path, compress_level=9)
    return path


# -------------------------------------------------------------------------------------------------- flood
@dataclass(frozen=True)
class Flood:
    admitted: int
    refused: int
    other_answered: bool
    other_seconds: float
    other_error: str


def flood(url: str, joins: int) -> Flood:
    flooder = _client(url, "203.0.113.66")
    generate = next(d for d in flooder.config["dependencies"] if d.get("api_name") == "generate")
    defaults = {c["id"]: c.get("props", {}).get("value") for c in flooder.config["components"]}
    data = [defaults.get(component) for component in generate["inputs"]]
    data[0], data[3], data[9] = FLOOD_PROMPT, 100, 4  # prompt, steps, images: a long run each

    def join(_: int) -> int:
        body = {"data": data, "fn_index": generate["id"], "session_hash": uuid.uuid4().hex, "event_data": None}
        headers = {"X-Forwarded-For": "203.0.113.66"}
        return httpx.post(f"{url}gradio_api/queue/join", json=body, headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(join, range(joins)))
    started = time.perf_counter()
    try:
        _client(url, "198.51.100.7").predict(image=handle_file(ASSETS / "camera.png"), api_name="/features")
        answered, error = True, ""
    except Exception as failure:
        answered, error = False, f"{type(failure).__name__}: {str(failure)[:120]}"
    return Flood(codes.count(200), joins - codes.count(200), answered, time.perf_counter() - started, error)


# ---------------------------------------------------------------------------------------------- downloads
def downloads(url: str, clients: int, requests: int) -> tuple[int, int, list[str]]:
    """(downloads, failures, the first few failure messages) of identical ``/features`` results."""

    def one_client(index: int) -> list[str]:
        client = _client(url, f"198.51.100.{index + 20}", download_files=False)
        failures = []
        for _ in range(requests):
            try:
                image, _stats, _notices = client.predict(
                    image=handle_file(ASSETS / "coffee.png"), operation="Canny edges", api_name="/features"
                )
                reply = httpx.get(image["url"], timeout=60)
                reply.raise_for_status()
                if len(reply.content) != int(reply.headers.get("content-length", len(reply.content))):
                    raise ValueError("received fewer bytes than the declared Content-Length")
                Image.open(io.BytesIO(reply.content)).load()
            except Exception as failure:
                failures.append(f"{type(failure).__name__}: {str(failure)[:120]}")
        return failures

    with ThreadPoolExecutor(max_workers=clients) as pool:
        failures = [failure for batch in pool.map(one_client, range(clients)) for failure in batch]
    return clients * requests, len(failures), failures[:3]


# ------------------------------------------------------------------------------------------------ decodes
@dataclass(frozen=True)
class Decodes:
    picture: str
    file_kb: int
    answered: int
    refused: int
    peak_mb: float


def peak_rss_during(server: Server, work: Any) -> tuple[float, Any]:
    """Run ``work()`` while polling the server's RSS; (peak above the level before, in MB, work's result)."""
    process = psutil.Process(server.process.pid)
    idle = process.memory_info().rss
    peak = idle
    done = threading.Event()

    def poll() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.01)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        result = work()
    finally:
        done.set()
        poller.join()
    return (peak - idle) / 1e6, result


def decodes(server: Server, picture: Path, count: int) -> Decodes:
    clients = [_client(server.url, f"192.0.2.{index + 1}") for index in range(count)]
    upload = handle_file(picture)

    def one(client: Client) -> bool:
        try:
            client.predict(image=upload, operation="Grayscale", api_name="/features")
            return True
        except Exception:
            return False

    def burst() -> list[bool]:
        with ThreadPoolExecutor(max_workers=count) as pool:
            return list(pool.map(one, clients))

    time.sleep(1.0)
    peak_mb, outcomes = peak_rss_during(server, burst)
    return Decodes(picture.name, picture.stat().st_size // 1024, sum(outcomes), count - sum(outcomes), peak_mb)


# ------------------------------------------------------------------------------------------------- report
def commit_of(root: Path) -> str:
    """The checkout's commit, marked when it has uncommitted changes."""
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain"], capture_output=True, text=True)
    return head.stdout.strip() + (" + changes" if dirty.stdout.strip() else "")


def markdown(root: Path, flooded: Flood, downloaded: tuple[int, int, list[str]], decoded: list[Decodes]) -> str:
    done, failed, examples = downloaded
    other = f"answered in {flooded.other_seconds:.2f} s" if flooded.other_answered else f"failed: {flooded.other_error}"
    rows = [
        ("flood: `/generate` joins admitted / refused", f"{flooded.admitted} / {flooded.refused}"),
        ("flood: another client's `/features`", other),
        ("downloads: failed of identical `/features` results", f"{failed} of {done}"),
        *(
            (
                f"decodes: {d.answered + d.refused} x {d.picture} ({d.file_kb} KB) at once",
                f"peak RSS +{d.peak_mb:.0f} MB; {d.answered} decoded, {d.refused} refused",
            )
            for d in decoded
        ),
    ]
    header = f"Commit `{commit_of(root)}`; tiny models; clients told apart by `X-Forwarded-For`."
    if examples:
        header += " Download failures, first few: " + "; ".join(examples)
    return table(f"abuse (commit {commit_of(root).split()[0]})", header, rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose app.py to run")
    parser.add_argument("--flood", type=int, default=40)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--decodes", type=int, default=8)
    parser.add_argument("--tiny-dir", type=Path)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fusion-abuse-") as temporary:
        work = Path(temporary)
        pictures = [_flat_png(ATTACK_SIDE, work), _flat_png(LARGEST_ACCEPTED, work)]
        env = {"FUSION_TRUST_FORWARDED_FOR": "1"}
        server = start_server(work, args.tiny_dir or work / "tiny", root=args.root.resolve(), extra_env=env)
        try:
            decoded = [decodes(server, picture, args.decodes) for picture in pictures]
            downloaded = downloads(server.url, args.clients, args.requests)
            flooded = flood(server.url, args.flood)
        finally:
            stop_server(server)
    text = markdown(args.root.resolve(), flooded, downloaded, decoded)
    title = f"abuse (commit {commit_of(args.root.resolve()).split()[0]})"
    write_section(args.out, title, text, heading="One visitor against the rest")
    print(text)
    return 0 if downloaded[1] == 0 and flooded.other_answered else 1


if __name__ == "__main__":
    sys.exit(main())
