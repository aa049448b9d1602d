"""The corpus of source images the benchmarks read, found one way for all of them.

The corpus (SIPI's photos, classic test images, Kodak's 24 photos, cartoons) is not in the
repository: it is ``--corpus DIR`` when given, else ``$IPC_CORPUS``, else ``../shared/corpus-src``
beside the repository (the folder tests/corpus/make_corpus.py reads too).  An image is named by
its file name without the suffix (``peppers`` is sipi/peppers.tiff, ``kodim23``
kodak/kodim23.png; the names are unique across the corpus), by a path inside the corpus
(``kodak/kodim05.png``), or by any path to a file.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
#: The corpus's folders of images.
FOLDERS = ("sipi", "classic", "kodak", "cartoon")
#: File suffixes of the corpus's images.
SUFFIXES = (".png", ".tiff", ".tif", ".pgm", ".ppm", ".bmp", ".jpg")


def corpus_root(arg: str | os.PathLike | None = None) -> Path:
    """The corpus: ``arg`` (a --corpus option) when given, else $IPC_CORPUS, else
    ../shared/corpus-src beside the repository."""
    if arg:
        return Path(arg)
    if os.environ.get("IPC_CORPUS"):
        return Path(os.environ["IPC_CORPUS"])
    return REPO.parent / "shared" / "corpus-src"


def add_corpus_argument(parser: argparse.ArgumentParser) -> None:
    """The --corpus option of every benchmark that reads the corpus (read it with
    corpus_root(args.corpus))."""
    parser.add_argument("--corpus", metavar="DIR",
                        help="the corpus of source images (default: $IPC_CORPUS, else "
                             "../shared/corpus-src beside the repository)")


def find_image(name: str, root: Path) -> Path:
    """The file of an image: a path, a path inside the corpus, or a name without suffix."""
    for path in (Path(name), root / name):
        if path.is_file():
            return path
    for hit in sorted(root.rglob(f"{name}.*")):
        if hit.suffix.lower() in SUFFIXES:
            return hit
    raise SystemExit(f"image {name!r} not found (as a path, or under {root}: pass --corpus "
                     "or set IPC_CORPUS)")


def image_files(root: Path, folders: tuple[str, ...] = FOLDERS) -> list[Path]:
    """Every image file directly in the given folders of the corpus, sorted."""
    return sorted(p for folder in folders for p in (root / folder).glob("*")
                  if p.suffix.lower() in SUFFIXES)


def load_image(name: str, root: Path, mode: str = "L") -> np.ndarray:
    """An image of the corpus (see find_image) as a uint8 array in ``mode`` (L or RGB)."""
    with Image.open(find_image(name, root)) as im:
        return np.asarray(im.convert(mode), dtype=np.uint8).copy()
