"""Regenerate the golden corpus: .ipc files and their reference decodings.

    python tests/corpus/make_corpus.py [--corpus-src PATH] [--only NAME ...]

Each entry of the current format version is encoded with PIL_ipc's encoder; its reference PNG
comes from tests/conformance/reference_decoder.py (JBIG-KIT for the planes, plain-Python source points and
values, scipy's direct solver for the PDE), not from the decoder under test.  MANIFEST.json
records the options, sizes and checksums.  Run it again whenever the format changes (and bump
the version).

Files of earlier versions (``v1-*``, ``v2-*``) are kept as they were written: they are never
re-encoded, only checked to be unchanged and to decode to their reference PNG again.
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
sys.path.insert(0, str(HERE.parent / "conformance"))  # for reference_decoder
sys.path.insert(0, str(HERE.parent.parent))  # the repository, for PIL_ipc

from reference_decoder import reference_decode  # noqa: E402

from PIL_ipc.format import container  # noqa: E402
from PIL_ipc import encode


def tiny() -> np.ndarray:
    """The worked example of spec/FORMAT.md: a 12 x 8 step with a ramp."""
    img = np.zeros((8, 12), np.uint8)
    img[:, :6] = 40
    img[:, 6:] = np.linspace(180, 220, 6).astype(np.uint8)
    return img


def half_level() -> np.ndarray:
    """Grey 128 beside 40: at 51 levels 128 is level 25, v(25) = 127.5 exactly, which a decoder
    computing 25 * (255 / 50) in floating point gets as 127.49999999999999 and rounds to 127."""
    img = np.full((12, 16), 128, np.uint8)
    img[:, 10:] = 40
    return img


def smooth() -> np.ndarray:
    """No edges at all: a gentle gradient (the encoder falls back to one seed point)."""
    y, x = np.mgrid[0:64, 0:80]
    return (100 + 0.2 * x + 0.1 * y).astype(np.uint8)


def noise() -> np.ndarray:
    """Uniform noise: edges almost everywhere at threshold 0."""
    return np.random.default_rng(1).integers(0, 256, (48, 40), dtype=np.uint8)


def source(src: Path, rel: str, mode: str = "L") -> np.ndarray:
    return np.asarray(Image.open(src / rel).convert(mode))


def disc_alpha(h: int, w: int) -> np.ndarray:
    """Bi-level alpha: an opaque disc on a transparent ground."""
    y, x = np.mgrid[0:h, 0:w]
    return np.where((y - h / 2) ** 2 + (x - w / 2) ** 2 < (0.4 * min(h, w)) ** 2, 255,
                    0).astype(np.uint8)


def ramp_alpha(h: int, w: int) -> np.ndarray:
    """Graded alpha: a diagonal ramp, transparent in one corner, with a step across it."""
    y, x = np.mgrid[0:h, 0:w]
    a = np.clip(255 * (x + y) / (h + w - 2), 0, 255)
    a[h // 3:h // 2, :] = 128
    return a.astype(np.uint8)


#: Options of an entry that are metadata chunks (str, stored UTF-8), not encoder settings.
METADATA = ("xmp",)
XMP_PACKET = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf='
              '"http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
              'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>tiny</dc:title>'
              '</rdf:Description></rdf:RDF></x:xmpmeta>')


def entries(src: Path):
    """(name, image, options) for every corpus file of the current format version."""
    peppers = source(src, "sipi/peppers.tiff")
    peppers_rgb = source(src, "sipi/peppers.tiff", "RGB")
    # version 4: colour, with and without alpha (section 7.1, 7.2)
    yield "rgb-photo", peppers_rgb[200:264, 160:240], dict(threshold=24, lattice=6,
                                                           chroma_levels=16)
    yield "rgb-chroma-stride-3", peppers_rgb[300:348, 100:164], dict(
        threshold=20, lattice=5, chroma_levels=12, chroma_stride=3)
    yield "rgba-bilevel-alpha", np.dstack([peppers_rgb[40:88, 300:356],
                                           disc_alpha(48, 56)]), dict(threshold=24, lattice=6)
    yield "rgba-graded-alpha", np.dstack([peppers_rgb[120:160, 40:88], ramp_alpha(40, 48)]), \
        dict(threshold=24, lattice=5, exact=True)
    yield "la-graded-alpha", np.dstack([peppers[200:240, 300:348], ramp_alpha(40, 48)]), dict(
        threshold=24, lattice=6)
    yield "rgb-odd-37x23", peppers_rgb[101:124, 203:240], dict(threshold=16, spacing=2,
                                                               min_length=0, lattice=0)
    yield "rgb-cartoon", source(src, "cartoon/serrano.png", "RGB")[60:124, 80:160], dict(
        threshold=32, lattice=8, edge_seeds=30, chroma_levels=24)
    yield "tiny", tiny(), dict(threshold=24, spacing=3, levels=16, min_length=0, tonal=0,
                               lattice=4)
    yield "photo-g6", peppers[200:296, 160:256], dict(threshold=24, lattice=6)
    yield "cartoon-g8-seeds", source(src, "cartoon/comic.pgm")[150:246, 200:296], dict(
        threshold=32, lattice=8, edge_seeds=30)
    yield "lattice-step-1", peppers[300:320, 300:324], dict(threshold=16, lattice=1,
                                                            min_length=0)
    yield "lattice-over-image", peppers[101:138, 203:226], dict(threshold=16, spacing=2,
                                                                min_length=0, lattice=40)
    yield "lattice-empty", smooth(), dict(threshold=24, lattice=200)
    yield "noise-lattice-2", noise(), dict(threshold=40, levels=256, lattice=2, tonal=0,
                                           min_length=0)
    yield "odd-37x23", peppers[101:138, 203:226], dict(threshold=16, spacing=2, min_length=0,
                                                       lattice=0)
    yield "house-0.25bpp", source(src, "sipi/house.tiff"), dict(bpp=0.25)
    # coding 1 leaves out decisions the range decides: few levels put most predictions at
    # the range's ends (4 levels: signs implied at 0 and 3, lengths and mantissas bounded;
    # 2 levels: every nonzero residual is +-1 with its sign implied, no length decision)
    yield "bounded-comic-levels-4", source(src, "cartoon/comic.pgm")[150:246, 200:296], dict(
        threshold=32, levels=4, lattice=6)
    # an XMP packet in its ancillary chunk (section 4.5): decoders skip it, Pillow's info has it
    yield "xmp-tiny", tiny(), dict(threshold=24, spacing=3, levels=16, min_length=0, tonal=0,
                                   lattice=4, xmp=XMP_PACKET)
    yield "levels-51-half", half_level(), dict(threshold=24, spacing=3, levels=51, min_length=0,
                                               tonal=0, lattice=4)
    yield "bounded-noise-levels-2", noise(), dict(threshold=40, levels=2, lattice=3, tonal=0,
                                                  min_length=0)


def check_frozen(manifest: dict) -> None:
    """Files of earlier versions: unchanged, and the reference decoder still reproduces them."""
    for name, entry in sorted(manifest.items()):
        if entry["version"] in (container.version_for("L"), container.FORMAT_VERSION):
            continue
        data = (HERE / f"{name}.ipc").read_bytes()
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise SystemExit(f"{name}.ipc changed; files of earlier versions are kept as written")
        ref, _ = reference_decode(data)
        if not np.array_equal(ref, np.asarray(Image.open(HERE / f"{name}.png"))):
            raise SystemExit(f"the reference decoder no longer reproduces {name}.png")
        print(f"{name:22s} version {entry['version']}, unchanged, reference reproduced")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus-src", type=Path,
                    default=HERE.parent.parent.parent / "shared" / "corpus-src")
    ap.add_argument("--only", nargs="*", help="regenerate only these entries")
    args = ap.parse_args()
    manifest_path = HERE / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    check_frozen(manifest)
    for name, img, opts in entries(args.corpus_src):
        if args.only and name not in args.only:
            continue
        settings = {k: v for k, v in opts.items() if k not in METADATA}
        metadata = {k: v.encode("utf-8") for k, v in opts.items() if k in METADATA}
        data = encode.encode(img, encode.EncodeOptions(**settings), **metadata)
        header = container.parse(data).header
        ref, known = reference_decode(data)
        (HERE / f"{name}.ipc").write_bytes(data)
        Image.fromarray(ref).save(HERE / f"{name}.png", optimize=True)
        psnr = 10 * np.log10(255.0 ** 2 / max(np.mean((ref.astype(float) - img) ** 2), 1e-12))
        pixels = img.shape[0] * img.shape[1]
        manifest[name] = {
            "version": header.version,
            "lattice": header.lattice,
            "options": opts,
            "width": img.shape[1],
            "height": img.shape[0],
            "bytes": len(data),
            "bpp": round(8 * len(data) / pixels, 4),
            "mode": header.mode,
            "stored_pixels": int(known.sum()),
            "psnr_vs_source": round(float(psnr), 2),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        print(f"{name:22s} {img.shape[1]:4d}x{img.shape[0]:<4d} {len(data):7d} B "
              f"{manifest[name]['bpp']:.3f} bpp  {psnr:.2f} dB  lattice {header.lattice}")
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
