"""Regenerate the golden corpus: .ipc files and their reference decodings.

    python tests/corpus/make_corpus.py [--corpus-src PATH]

Each entry is encoded with PIL_ipc's encoder; its reference PNG comes from
tests/reference_decoder.py (JBIG-KIT for the planes, plain-Python source points and values,
scipy's direct solver for the PDE), not from the decoder under test.  MANIFEST.json records the
options, sizes and checksums.  Run it again whenever the format changes (and bump the version).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/, for reference_decoder
sys.path.insert(0, str(HERE.parent.parent))  # the repository, for PIL_ipc

from PIL_ipc import encoder  # noqa: E402
from reference_decoder import reference_decode  # noqa: E402


def tiny() -> np.ndarray:
    """The worked example of spec/FORMAT.md: a 12 x 8 step with a ramp."""
    img = np.zeros((8, 12), np.uint8)
    img[:, :6] = 40
    img[:, 6:] = np.linspace(180, 220, 6).astype(np.uint8)
    return img


def smooth() -> np.ndarray:
    """No edges at all: a gentle gradient (the encoder falls back to one seed point)."""
    y, x = np.mgrid[0:64, 0:80]
    return (100 + 0.2 * x + 0.1 * y).astype(np.uint8)


def noise() -> np.ndarray:
    """Edges everywhere: uniform noise, threshold 0, every band pixel stored."""
    return np.random.default_rng(1).integers(0, 256, (48, 40), dtype=np.uint8)


def odd_crop(src: Path) -> np.ndarray:
    return np.asarray(Image.open(src / "sipi/peppers.tiff").convert("L"))[101:138, 203:226]


def source(src: Path, rel: str) -> np.ndarray:
    return np.asarray(Image.open(src / rel).convert("L"))


def entries(src: Path):
    """(name, image, options) for every corpus file."""
    yield "tiny", tiny(), dict(threshold=24, spacing=3, levels=16, min_length=0, tonal=0)
    yield "smooth-no-edges", smooth(), dict(threshold=24)
    yield "noise-all-edges", noise(), dict(threshold=0, spacing=1, levels=256, min_length=0,
                                           hysteresis=1.0, tonal=0)
    yield "odd-37x23", odd_crop(src), dict(threshold=16, spacing=2, min_length=0)
    yield "house-t16", source(src, "sipi/house.tiff"), dict(threshold=16)
    yield "house-t40", source(src, "sipi/house.tiff"), dict(threshold=40, spacing=6)
    yield "splash-t24", source(src, "sipi/splash.tiff"), dict(threshold=24)
    yield "airplane-t24", source(src, "sipi/airplane.tiff"), dict(threshold=24)
    yield "peppers-t24", source(src, "sipi/peppers.tiff"), dict(threshold=24)
    yield "peppers-paper", source(src, "sipi/peppers.tiff"), dict(
        threshold=30, thin=False, hysteresis=1.0, min_length=0, tonal=0, spacing=4, levels=256)
    yield "comic-t32", source(src, "cartoon/comic.pgm"), dict(threshold=32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus-src", type=Path,
                    default=HERE.parent.parent.parent / "shared" / "corpus-src")
    ap.add_argument("--only", nargs="*", help="regenerate only these entries")
    args = ap.parse_args()
    manifest_path = HERE / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    for name, img, opts in entries(args.corpus_src):
        if args.only and name not in args.only:
            continue
        data = encoder.encode(img, encoder.EncodeOptions(**opts))
        ref, known = reference_decode(data)
        (HERE / f"{name}.ipc").write_bytes(data)
        Image.fromarray(ref).save(HERE / f"{name}.png", optimize=True)
        psnr = 10 * np.log10(255.0 ** 2 / max(np.mean((ref.astype(float) - img) ** 2), 1e-12))
        manifest[name] = {
            "options": opts,
            "width": img.shape[1],
            "height": img.shape[0],
            "bytes": len(data),
            "bpp": round(8 * len(data) / img.size, 4),
            "stored_pixels": int(known.sum()),
            "psnr_vs_source": round(float(psnr), 2),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        print(f"{name:18s} {img.shape[1]:4d}x{img.shape[0]:<4d} {len(data):7d} B "
              f"{manifest[name]['bpp']:.3f} bpp  {psnr:.2f} dB")
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
