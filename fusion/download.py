"""``python -m fusion download``: fetch the configured models' files into the Hugging Face cache.

It fetches exactly the files the registry's loaders read (each spec's ``hub_files`` patterns), for the
model ids the environment configures, so a later offline run finds them. ``--print-frontmatter`` prints
the README front-matter lines (``models:`` and ``preload_from_hub:``) that make a Space fetch the same
files at build time. ``preload_from_hub`` takes explicit file names (``- org/repo file1,file2 commit``),
not glob patterns, so the patterns are resolved against the Hub's file listing (or, offline, against a
snapshot already cached here).

Exit status: 0 when everything asked for is ready, 1 when a model failed (missing, gated), 3 when the
Hub cannot be reached.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from fnmatch import fnmatch
from pathlib import Path

from fusion.config import Settings, settings_from_env
from fusion.registry import REGISTRY

#: What a plain ``python -m fusion download`` fetches: every model the app uses by default.
DEFAULT_KEYS = (
    "caption", "vqa", "clip", "sd15", "sd-turbo", "controlnet-canny", "taesd", "safety-checker", "assistant"
)
#: Added by ``--all``.
LARGE_KEYS = ("caption-large", "clip-large")

EXIT_FAILED = 1
EXIT_OFFLINE = 3


class HubUnreachable(Exception):
    """The Hub cannot be reached: every further model would fail the same way."""


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    settings = settings_from_env()
    keys = selected_keys(args.models, include_large=args.all)
    if args.print_frontmatter:
        return print_frontmatter(settings, keys)
    return download(settings, keys)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fusion download",
        description="Fetch the configured models (FUSION_*_MODEL ids) into the Hugging Face cache.",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        metavar="KEY",
        choices=list(REGISTRY),
        help=f"only these models (keys: {', '.join(REGISTRY)}); default: {', '.join(DEFAULT_KEYS)}",
    )
    parser.add_argument(
        "--all", action="store_true", help=f"also the large variants ({', '.join(LARGE_KEYS)})"
    )
    parser.add_argument(
        "--print-frontmatter",
        action="store_true",
        help="print README front matter (models:, preload_from_hub:) for these models instead of downloading",
    )
    return parser


def selected_keys(models: list[str] | None, *, include_large: bool) -> tuple[str, ...]:
    """The model keys to handle, in registry order, without duplicates."""
    wanted = set(models or DEFAULT_KEYS)
    if include_large:
        wanted |= {*DEFAULT_KEYS, *LARGE_KEYS} if models is None else set(LARGE_KEYS)
    return tuple(key for key in REGISTRY if key in wanted)


def app_keys(*, ask: bool) -> tuple[str, ...]:
    """The models the app uses with its default settings (the assistant only when the Ask tab is on)."""
    return tuple(key for key in DEFAULT_KEYS if ask or key != "assistant")


def missing_from_cache(settings: Settings, keys: Iterable[str], cache_dir: Path | None = None) -> list[str]:
    """The keys among ``keys`` whose model's weights are not in the local Hugging Face cache (nor a local folder).

    Only the cache folder is read, never the network, so the answer holds offline (``HF_HUB_OFFLINE``) too. A
    model counts as there when its cached snapshots hold a file for each weight pattern its loader reads
    (``ModelSpec.hub_files``: every component of a diffusion pipeline, for example).
    """
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    root = Path(cache_dir or constants.HF_HUB_CACHE)
    missing = []
    for key in keys:
        model_id = settings.model_id(key)
        if is_local_folder(model_id):
            continue
        try:
            snapshots = root / repo_folder_name(repo_id=model_id, repo_type="model") / "snapshots"
        except ValueError:  # neither a folder here nor a Hub id (a folder that does not exist): not there
            missing.append(key)
            continue
        files = [
            str(path.relative_to(snapshot))
            for snapshot in (snapshots.iterdir() if snapshots.is_dir() else ())
            for path in snapshot.rglob("*")
            if path.is_file()  # a symlink to a blob that was never completed is not a file
        ]
        weights = [pattern for pattern in REGISTRY[key].hub_files if pattern.endswith(".safetensors")]
        if not all(any(fnmatch(name, pattern) for name in files) for pattern in weights):
            missing.append(key)
    return missing


def is_local_folder(model_id: str) -> bool:
    return Path(model_id).expanduser().is_dir()


def download(settings: Settings, keys: Iterable[str]) -> int:
    """Fetch every key's files; stop at the first sign that the Hub cannot be reached."""
    failed = 0
    for key in keys:
        model_id = settings.model_id(key)
        try:
            failed += not _download_one(key, model_id)
        except HubUnreachable as error:
            print(_offline_message(key, model_id, error), file=sys.stderr)
            return EXIT_OFFLINE
    if failed:
        print(f"{failed} model(s) could not be fetched; see the messages above.", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _download_one(key: str, model_id: str) -> bool:
    """Fetch one model and say where it is; returns whether it is ready."""
    if is_local_folder(model_id):
        print(f"{key}: {model_id} is a local folder; nothing to fetch.")
        return True
    patterns = REGISTRY[key].hub_files
    print(f"{key}: fetching {model_id} ...", flush=True)
    try:
        folder = Path(_fetch(model_id, patterns))
    except ValueError as error:
        print(f"{key}: could not fetch {model_id}: {error}", file=sys.stderr)
        return False
    files = [path for path in folder.rglob("*") if path.is_file()]
    if not _has_weights(path.name for path in files):
        print(f"{key}: {model_id} has no safetensors weights matching {', '.join(patterns)}", file=sys.stderr)
        return False
    megabytes = sum(path.stat().st_size for path in files) / 1e6
    print(f"{key}: {model_id} ready in {folder} ({len(files)} files, {megabytes:.1f} MB)")
    return True


def _fetch(model_id: str, patterns: tuple[str, ...]) -> str:
    """One ``snapshot_download``; Hub errors become :class:`HubUnreachable` or a ``ValueError``."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        return snapshot_download(model_id, allow_patterns=list(patterns))
    except LocalEntryNotFoundError as error:  # offline, or no connection, and not (fully) cached
        raise HubUnreachable(str(error).splitlines()[0]) from error
    except RepositoryNotFoundError as error:
        raise ValueError(_repository_advice(error)) from None
    except OSError as error:
        raise ValueError(f"{type(error).__name__}: {error}") from error


def _has_weights(names: Iterable[str]) -> bool:
    """The loaders read only safetensors: a snapshot without any would fail at load time."""
    return any(name.endswith(".safetensors") for name in names)


def _repository_advice(error: Exception) -> str:
    from huggingface_hub.errors import GatedRepoError

    if isinstance(error, GatedRepoError):
        return (
            "the repository is gated: accept its licence on its Hub page, then log in (`hf auth login`) "
            "or set HF_TOKEN."
        )
    return "no such model on the Hub (or it is private): check the FUSION_*_MODEL variable."


def _offline_message(key: str, model_id: str, error: Exception) -> str:
    from huggingface_hub import is_offline_mode

    reason = "HF_HUB_OFFLINE is set" if is_offline_mode() else "no network connection"
    return (
        f"{key}: cannot reach the Hugging Face Hub to fetch {model_id} ({reason}; {error}).\n"
        "What to do: connect this machine to the internet, unset HF_HUB_OFFLINE, and run "
        "`python -m fusion download` again; or copy the model folders here and point the FUSION_*_MODEL "
        "variables at them; or set FUSION_MODELS=tiny to run with random-weight stand-ins."
    )


def print_frontmatter(settings: Settings, keys: Iterable[str]) -> int:
    """Print ``models:`` and ``preload_from_hub:`` for the configured Hub ids (local folders are skipped)."""
    files_by_id: dict[str, set[str]] = {}
    for key in keys:
        model_id = settings.model_id(key)
        if not is_local_folder(model_id):
            files_by_id.setdefault(model_id, set()).update(REGISTRY[key].hub_files)
    lines = ["models:", *(f"- {model_id}" for model_id in files_by_id), "preload_from_hub:"]
    status = 0
    for model_id, patterns in files_by_id.items():
        try:
            files, commit = concrete_files(model_id, tuple(sorted(patterns)))
            if not _has_weights(files):
                raise ValueError(f"no safetensors weights match {', '.join(sorted(patterns))}")
        except (HubUnreachable, ValueError) as error:
            status = max(status, EXIT_OFFLINE if isinstance(error, HubUnreachable) else EXIT_FAILED)
            lines.append(f"# - {model_id}  (file names unknown: {error})")
            continue
        lines.append(f"- {model_id} {','.join(files)} {commit}")
    print("\n".join(lines))
    if status:
        print(
            "Some models could not be listed (commented out above): run this online, or after "
            "`python -m fusion download`, to get their exact file names.",
            file=sys.stderr,
        )
    return status


def concrete_files(model_id: str, patterns: tuple[str, ...]) -> tuple[list[str], str]:
    """The file names matching ``patterns`` and their commit: from the Hub, else the local cache."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import DryRunError, LocalEntryNotFoundError, RepositoryNotFoundError
    from huggingface_hub.utils import filter_repo_objects

    try:
        planned = snapshot_download(model_id, allow_patterns=list(patterns), dry_run=True)
    except DryRunError as error:  # the Hub did not list the repository: fall back to a snapshot cached here
        if isinstance(error.__cause__, RepositoryNotFoundError):
            raise ValueError(_repository_advice(error.__cause__)) from None
    else:
        if not planned:
            raise ValueError(f"no file of {model_id} matches {', '.join(patterns)}")
        return sorted(info.filename for info in planned), planned[0].commit_hash
    try:
        folder = Path(snapshot_download(model_id, allow_patterns=list(patterns), local_files_only=True))
    except LocalEntryNotFoundError:
        raise HubUnreachable("the Hub cannot be reached and no snapshot is cached here") from None
    names = (path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    return sorted(filter_repo_objects(names, allow_patterns=list(patterns))), folder.name


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
