"""Labelled image sets: ImageFolder directories and zips, and the offline datasets for tests and benchmark.

ImageFolder means ``ROOT/<label>/<image files>`` (torchvision's layout), or ``ROOT/train/<label>/...`` plus
``ROOT/test/<label>/...`` for a fixed split. Files are decoded with :func:`fusion.images.load`, the app's one
decoder; files that are not images are skipped with a notice rather than failing the whole set.

Offline datasets (shipped with scikit-learn and scikit-image, no download), each with a fixed held-out split:

- ``digits``: scikit-learn's 1,797 handwritten digits (8x8, 17 grey levels), scaled to 0..255 and upscaled
  to 32x32 RGB with bilinear interpolation (the feature extractor and CLIP both expect ordinary RGB pictures).
  Split as in scikit-learn's own example: the first half trains, the second half tests, no shuffling.
- ``faces``: scikit-image's ``lfw_subset``, 100 LFW face crops and 100 non-face crops (25x25 grey), split in
  half per class with a fixed seed.
- ``textures``: 64x64 patches of scikit-image's brick, grass and gravel photos (512x512). Patches from the
  left half of each photo train, the right half tests, so no test patch overlaps a training patch.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from fusion import images
from fusion.messages import Message
from fusion.numbers import one_of

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
#: Limits on what a user's zip may unpack to (a guard against zip bombs and accidental huge uploads).
MAX_ZIP_FILES = 5000
MAX_ZIP_BYTES = 200 << 20
DIGIT_SIDE = 32
TEXTURE_PATCH = 64
SPLIT_SEED = 0


@dataclass(frozen=True, eq=False)
class LabelledImages:
    """RGB uint8 images with integer targets indexing ``labels``."""

    images: tuple[np.ndarray, ...]
    targets: np.ndarray
    labels: tuple[str, ...]
    notices: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.images)

    def counts(self) -> dict[str, int]:
        return {label: int((self.targets == index).sum()) for index, label in enumerate(self.labels)}


@dataclass(frozen=True, eq=False)
class Split:
    train: LabelledImages
    test: LabelledImages


def label_from_folder(name: str) -> str:
    """A class folder's name as a CLIP label: ``pickup_truck`` -> ``pickup truck``."""
    return " ".join(name.replace("_", " ").replace("-", " ").split())


def _class_folders(root: Path) -> list[Path]:
    return sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith("."))


def load_image_folder(
    root: str | Path,
    *,
    labels: Sequence[str] | None = None,
    max_per_class: int | None = None,
    max_images: int | None = None,
    max_side: int = 512,
    max_bytes: int = images.DEFAULT_MAX_BYTES,
) -> LabelledImages:
    """Read ``root/<label>/*`` (sorted, so the same folder always gives the same order).

    ``labels`` fixes the label order (a test split must index the same labels as its train split). Decoding stops
    after ``max_images`` pictures (the rest are counted, not decoded); ``max_side`` and ``max_bytes`` are
    :func:`fusion.images.load`'s.
    """
    root = Path(root)
    folders = _class_folders(root) if root.is_dir() else []
    if not folders:
        raise ValueError(
            Message(
                "{root} has no class folders: an ImageFolder dataset is ROOT/<label>/<images>, for example "
                "ROOT/cat/1.png and ROOT/dog/2.png (or ROOT/train/... plus ROOT/test/...).",
                root=str(root),
            )
        )
    found = {label_from_folder(folder.name): folder for folder in folders}
    order = tuple(labels) if labels is not None else tuple(found)
    missing = [label for label in found if label not in order]
    if missing:
        raise ValueError(
            Message(
                "{root} has classes the training split lacks: {classes}.",
                root=str(root),
                classes=", ".join(missing[:10]),
            )
        )
    pictures: list[np.ndarray] = []
    targets: list[int] = []
    skipped: list[str] = []
    candidates = 0
    for index, label in enumerate(order):
        if label not in found:
            continue
        files = sorted(path for path in found[label].rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES)
        for path in files[:max_per_class]:
            candidates += 1
            if max_images is not None and len(pictures) >= max_images:
                continue
            try:
                pictures.append(images.load(path, max_side=max_side, max_bytes=max_bytes).pixels)
            except images.ImageError:
                skipped.append(f"{found[label].name}/{path.name}")
                continue
            targets.append(index)
    notices = []
    if skipped:
        notices.append(
            Message(
                "Skipped {count} file(s) that are not readable images: {names}",
                count=len(skipped),
                names=", ".join(skipped[:5]),
            )
        )
    if max_images is not None and candidates - len(skipped) > len(pictures):
        notices.append(
            Message(
                "Used the first {used} of the {count} images; the rest were not read.",
                used=len(pictures),
                count=candidates,
            )
        )
    if not pictures:
        raise ValueError(Message("No readable images were found in the class folders of {root}.", root=str(root)))
    return LabelledImages(tuple(pictures), np.asarray(targets, np.intp), order, tuple(notices))


def load_dataset(root: str | Path, *, max_images: int | None = None, **options: object) -> Split | LabelledImages:
    """``root/train`` + ``root/test`` as a :class:`Split`, otherwise ``root/<label>/*`` as one set.

    With ``max_images``, a split whose train part alone reaches it comes back as that train part.
    """
    root = Path(root)
    if (root / "train").is_dir() and (root / "test").is_dir():
        train = load_image_folder(root / "train", max_images=max_images, **options)  # type: ignore[arg-type]
        left = None if max_images is None else max_images - len(train)
        if left == 0:
            return train
        test = load_image_folder(root / "test", labels=train.labels, max_images=left, **options)  # type: ignore[arg-type]
        return Split(train, test)
    return load_image_folder(root, max_images=max_images, **options)  # type: ignore[arg-type]


def unpack_zip(archive: str | Path, destination: Path) -> Path:
    """Unpack a user's zip safely (nothing outside ``destination``, bounded size), find its root."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = [info for info in bundle.infolist() if not info.is_dir()]
            if len(members) > MAX_ZIP_FILES or sum(info.file_size for info in members) > MAX_ZIP_BYTES:
                raise ValueError(
                    Message(
                        "The zip holds more than {files} files or {megabytes} MB; upload a smaller set of examples.",
                        files=MAX_ZIP_FILES,
                        megabytes=MAX_ZIP_BYTES >> 20,
                    )
                )
            for info in members:
                parts = PurePosixPath(info.filename.replace("\\", "/")).parts
                if info.filename.startswith("/") or ".." in parts or "__MACOSX" in parts:
                    continue
                target = destination.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(info) as source, target.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(
            Message("The examples file is not a readable zip archive ({error}).", error=str(error))
        ) from None
    root = destination
    while True:
        entries = [path for path in root.iterdir() if not path.name.startswith(".")]
        if len(entries) == 1 and entries[0].is_dir() and _class_folders(entries[0]):
            root = entries[0]
        else:
            return root


def load_zip(archive: str | Path, **options: object) -> LabelledImages:
    """An ImageFolder zip (``<label>/<images>``, optionally under one top folder) as labelled images."""
    with tempfile.TemporaryDirectory(prefix="fusion-examples-") as folder:
        dataset = load_dataset(unpack_zip(archive, Path(folder)), **options)
    if isinstance(dataset, Split):
        return merge(dataset.train, dataset.test)
    return dataset


def merge(first: LabelledImages, second: LabelledImages) -> LabelledImages:
    if first.labels != second.labels:
        raise ValueError("Both sets must have the same labels in the same order.")
    return LabelledImages(
        first.images + second.images,
        np.concatenate([first.targets, second.targets]),
        first.labels,
        first.notices + second.notices,
    )


def export_image_folder(split: Split, out: str | Path) -> Path:
    """Write ``out/train/<label>/NNNNN.png`` and ``out/test/...`` (lossless, so a re-read is bit-exact)."""
    out = Path(out)
    for name, part in (("train", split.train), ("test", split.test)):
        for number, (image, target) in enumerate(zip(part.images, part.targets, strict=True)):
            folder = out / name / part.labels[target].replace(" ", "_")
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / f"{number:05d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return out


# ---------------------------------------------------------------------------------------- offline datasets
def _grey_to_rgb(grey: np.ndarray, side: int | None = None) -> np.ndarray:
    if side is not None:
        grey = cv2.resize(grey, (side, side), interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)


def _subset(images_: Sequence[np.ndarray], targets: np.ndarray, labels: tuple[str, ...], index: np.ndarray):
    return LabelledImages(tuple(images_[i] for i in index), targets[index], labels)


def digits() -> Split:
    from sklearn.datasets import load_digits

    data = load_digits()
    pictures = [
        _grey_to_rgb(np.round(image * (255 / 16)).astype(np.uint8), DIGIT_SIDE) for image in data.images
    ]
    labels = tuple(str(name) for name in data.target_names)
    half = len(pictures) // 2
    order = np.arange(len(pictures))
    return Split(
        _subset(pictures, data.target, labels, order[:half]),
        _subset(pictures, data.target, labels, order[half:]),
    )


def faces() -> Split:
    from skimage.data import lfw_subset
    from sklearn.model_selection import train_test_split

    crops = lfw_subset()
    pictures = [_grey_to_rgb(np.round(crop * 255).astype(np.uint8)) for crop in crops]
    targets = np.repeat([0, 1], len(crops) // 2)
    train, test = train_test_split(
        np.arange(len(pictures)), test_size=0.5, stratify=targets, random_state=SPLIT_SEED
    )
    labels = ("face", "non face")
    return Split(_subset(pictures, targets, labels, train), _subset(pictures, targets, labels, test))


def textures() -> Split:
    import skimage.data

    labels = ("brick", "grass", "gravel")
    parts: dict[str, tuple[list[np.ndarray], list[int]]] = {"train": ([], []), "test": ([], [])}
    for target, name in enumerate(labels):
        photo = getattr(skimage.data, name)()
        height, width = photo.shape
        for top in range(0, height - TEXTURE_PATCH + 1, TEXTURE_PATCH):
            for left in range(0, width - TEXTURE_PATCH + 1, TEXTURE_PATCH):
                part = "train" if left + TEXTURE_PATCH <= width // 2 else "test"
                parts[part][0].append(
                    _grey_to_rgb(photo[top : top + TEXTURE_PATCH, left : left + TEXTURE_PATCH])
                )
                parts[part][1].append(target)
    return Split(
        *(
            LabelledImages(tuple(pictures), np.asarray(targets), labels)
            for pictures, targets in parts.values()
        )
    )


OFFLINE_DATASETS: dict[str, Callable[[], Split]] = {"digits": digits, "faces": faces, "textures": textures}


def offline_dataset(name: str) -> Split:
    return OFFLINE_DATASETS[one_of(name, OFFLINE_DATASETS, "offline dataset")]()
