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
import shlex
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "conformance"))  # for reference_decoder
sys.path.insert(0, str(HERE.parent.parent))  # the repository, for PIL_ipc
sys.path.insert(0, str(HERE.parent.parent / "benchmarks"))  # for synthetic

from ipc_chunks import join, split  # noqa: E402
from jbigkit import pbmtojbg  # noqa: E402
from reference_decoder import jbigkit_decode, reference_decode  # noqa: E402
from synthetic import make as synthetic_make  # noqa: E402

from PIL_ipc.format import container, reader  # noqa: E402
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
    # version 5: edge-pixel sides (section 8.1), written where a budget search finds they pay
    yield "sides-gradients", synthetic_make("gradients", size=128), dict(bpp=0.4)
    yield "la-sides", np.dstack([synthetic_make("blobs", size=128), disc_alpha(128, 128)]), \
        dict(bpp=0.4)
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


def screen_alpha(h: int, w: int) -> np.ndarray:
    """Bi-level alpha (True = opaque) whose screens make JBIG-KIT move the AT pixel: rows
    0..63 a screen of period 5, rows 64..127 one of period 7 (each row at a random phase, so
    that the default AT pixel above predicts badly), opaque below with transparent corners."""
    y, x = np.mgrid[0:h, 0:w]
    phase = np.random.default_rng(7).integers(0, 35, h)[:, None]
    a = (y - h) ** 2 + (x - w / 2) ** 2 < (0.55 * w) ** 2
    a[:64] = (x[:64] + phase[:64]) % 5 < 2
    a[64:128] = (x[64:128] + phase[64:128]) % 7 < 3
    return a


#: Golden files whose bi-level planes are BIEs written by JBIG-KIT, each made from a file above
#: by coding its planes again (the planes, and so the values and the image, stay the same):
#: name -> (source file, {chunk type: (tool, options...)}).  A source of mode L given an ALPH
#: entry becomes an LA file of version 4 with the bi-level alpha plane of screen_alpha.
T82_FILES = {
    # several stripes closed by SDNORM, typical prediction on; the seed plane's last stripe
    # holds one line
    "t82-stripes-tp": ("cartoon-g8-seeds", {
        b"EDGE": ("pbmtojbg", "-q", "-s", "8", "-p", "8", "-o", "0"),
        b"SEED": ("pbmtojbg", "-q", "-s", "5", "-p", "8")}),
    # every stripe closed by SDRST (states, AT pixel and LNTP reset, lines above blank)
    "t82-sdrst": ("photo-g6", {
        b"EDGE": ("pbmtojbg", "-q", "-s", "7", "-r", "-p", "8")}),
    # the two-line template without typical prediction
    "t82-two-line": ("house-0.25bpp", {
        b"EDGE": ("pbmtojbg", "-q", "-s", "32", "-p", "64")}),
    # colour: two-line template with typical prediction and SDRST; a seed plane of 3-line
    # stripes, three-line template, typical prediction off, no AT (MX = 0)
    "t82-two-line-sdrst": ("rgb-cartoon", {
        b"EDGE": ("pbmtojbg", "-q", "-s", "10", "-r", "-p", "72"),
        b"SEED": ("pbmtojbg", "-q", "-s", "3", "-p", "0", "-m", "0")}),
    # VLENGTH: the edge plane declares 128 lines and a NEWLEN after its last stripe (then a
    # surplus stripe) sets 96; the seed plane declares 200 and its NEWLEN comes before its
    # last stripe; both with a COMMENT
    "t82-newlen-comment": ("cartoon-g8-seeds", {
        b"EDGE": ("pbmtojbg", "-q", "-s", "16", "-Y", "128", "-C", "edge plane"),
        b"SEED": ("pbmtojbg85", "-s", "12", "-Y", "200", "50", "-C", "seed plane")}),
    # an alpha plane whose screens move the AT pixel (tau_y = 0) at a line inside the first
    # stripe and again inside the second, typical prediction off
    "t82-atmove-alpha": ("house-0.25bpp", {
        b"ALPH": ("pbmtojbg", "-q", "-s", "64", "-m", "8", "-p", "0")}),
}


def t82_file(source: str, planes: dict) -> tuple[bytes, dict[bytes, np.ndarray]]:
    """The file T82_FILES describes, and the plane coded into each rewritten chunk."""
    chunks = split((HERE / f"{source}.ipc").read_bytes())
    types = [c[0] for c in chunks]
    coded = {}
    if b"ALPH" in planes and b"ALPH" not in types:
        ihdr = chunks[0][1]
        assert ihdr[1] == 0, "only a grey file gains an alpha plane"
        chunks[0][1] = bytes([4, 1]) + ihdr[2:]  # version 4, mode LA
        chunks.insert(types.index(b"VALS") + 1, [b"ALPH", b""])
        width, height = int.from_bytes(ihdr[2:6], "big"), int.from_bytes(ihdr[6:10], "big")
        coded[b"ALPH"] = screen_alpha(height, width)
    for i, (ctype, body) in enumerate(chunks):
        if ctype not in planes:
            continue
        tool, *options = planes[ctype]
        if ctype not in coded:
            coded[ctype] = jbigkit_decode(body)
        plane = coded[ctype]
        bie = pbmtojbg(plane, *options, tool=tool)
        chunks[i][1] = b"\x00" + bie if ctype == b"ALPH" else bie
    return join(chunks), coded


def write_t82_files(manifest: dict, only) -> None:
    """Write the T82_FILES, each checked: JBIG-KIT decodes every rewritten plane to the
    plane, the image is the source's (grey or colour channels unchanged)."""
    from PIL_ipc import decode
    from PIL_ipc.format import jbig

    for name, (source, planes) in T82_FILES.items():
        if only and name not in only:
            continue
        data, coded = t82_file(source, planes)
        for ctype, plane in coded.items():
            body = next(b for t, b in split(data) if t == ctype)
            assert np.array_equal(jbigkit_decode(body[1:] if ctype == b"ALPH" else body), plane)
        ref, known = reference_decode(data)
        src = np.asarray(Image.open(HERE / f"{source}.png"))
        if b"ALPH" in coded and src.ndim == 2:
            assert np.array_equal(ref[..., 0], src)
            assert np.array_equal(ref[..., 1], np.where(coded[b"ALPH"], 255, 0))
        else:
            assert np.array_equal(ref, src)
        (HERE / f"{name}.ipc").write_bytes(data)
        Image.fromarray(ref).save(HERE / f"{name}.png", optimize=True)
        header = reader.parse(data).header
        entry = manifest[source]
        manifest[name] = {
            "version": header.version,
            "lattice": header.lattice,
            "options": entry["options"],
            "planes": {t.decode(): shlex.join(p) for t, p in planes.items()},
            "from": source,
            "width": header.width,
            "height": header.height,
            "bytes": len(data),
            "bpp": round(8 * len(data) / (header.width * header.height), 4),
            "mode": header.mode,
            "stored_pixels": int(known.sum()),
            "psnr_vs_source": entry["psnr_vs_source"],
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        # PIL_ipc: the planes exactly, the image as it decodes the source file (both are
        # checked against the reference PNG by tests/conformance/test_conformance.py)
        try:
            for ctype, plane in coded.items():
                body = next(b for t, b in split(data) if t == ctype)
                if not np.array_equal(jbig.decode(body[1:] if ctype == b"ALPH" else body),
                                      plane):
                    raise ValueError(f"its {ctype.decode()} plane differs")
            out = decode.decode(data)
            same = np.array_equal(out[..., 0] if b"ALPH" in coded and src.ndim == 2 else out,
                                  decode.decode((HERE / f"{source}.ipc").read_bytes()))
            verdict = "PIL_ipc decodes it as the source" if same else "PIL_ipc DIFFERS"
        except ValueError as exc:
            verdict = f"PIL_ipc REJECTS it: {exc}"
        print(f"{name:22s} from {source}, {len(data)} B: JBIG-KIT planes checked; {verdict}")


#: What each file exercises (MANIFEST.json "exercises", the tables of README.md); v2-* files
#: are described from the file of the same name without the prefix.
EXERCISES = {
    "sides-gradients": "rendered shapes with gradient fills (benchmarks/synthetic.py) at a 0.4 "
                       "bpp budget: a SIDE "
                    "chunk, edge pixels taking their brightest or darkest candidate (spec "
                    "section 8.1)",
    "la-sides": "rendered blobs with a bi-level alpha plane at 0.4 bpp: SIDE before ALPH",
    "rgb-photo": "colour photo crop (peppers), lattice 6, 16 chroma levels: Y in VALS, Cb and Cr "
                 "in CVAL (spec section 7.1)",
    "rgb-chroma-stride-3": "colour with chroma stride 3: one chroma value per three source "
                           "points, 12 chroma levels",
    "rgba-bilevel-alpha": "colour with a bi-level alpha plane (ALPH coding 0, a T.82 BIE)",
    "rgba-graded-alpha": "colour with graded alpha (ALPH coding 1, zlib residuals), colour kept "
                         "under transparent pixels (exact)",
    "la-graded-alpha": "grey with graded alpha (mode LA, version 4)",
    "rgb-odd-37x23": "colour, odd size, no lattice, spacing 2",
    "rgb-cartoon": "colour cartoon crop with lattice 8, edge seeds (SEED plane), 24 chroma "
                   "levels",
    "tiny": "the worked example of spec section 10 (12 x 8, lattice 4: an edge pixel on the "
            "lattice, 1-D and 2-D lattice predictors; five decisions left out by coding 1)",
    "photo-g6": "a 96 x 96 photo crop (peppers) with lattice 6: lattice pixels on the band, 2-D "
                "prediction over smooth shading",
    "cartoon-g8-seeds": "a 96 x 96 cartoon crop (comic) with lattice 8 and edge seeds: seed "
                        "plane and lattice together, lattice pixels stored on the band as 2-D "
                        "neighbours",
    "lattice-step-1": "lattice 1 on a 24 x 20 photo crop: every pixel stored, band values keep "
                      "their band predictors",
    "lattice-over-image": "lattice 40 on a 23 x 37 crop: one lattice pixel, no 2-D prediction",
    "lattice-empty": "lattice 200 on an 80 x 64 gradient: no lattice pixel, no edges, one seed "
                     "point (SEED plane)",
    "noise-lattice-2": "lattice 2 on noise, 256 levels: large residuals under the 2-D contexts",
    "odd-37x23": "no lattice (lattice 0), odd size, spacing 2",
    "house-0.25bpp": "256 x 256 at a 0.25 bpp budget: the layout the rate control chose",
    "bounded-comic-levels-4": "a cartoon crop with 4 levels: most predictions at the range's ends "
                              "(signs implied, lengths and mantissas bounded by coding 1)",
    "xmp-tiny": "tiny with an XMP packet in its ancillary xXMP chunk (spec section 4.5): decoded "
                "as tiny, the packet returned in Pillow's info[\"xmp\"]",
    "levels-51-half": "51 levels, grey 128 = level 25: v(25) = 127.5 exactly, so the stored "
                      "pixels are 128; 25 * (255 / 50) in floating point gives 127 (spec "
                      "section 7)",
    "bounded-noise-levels-2": "noise with 2 levels: every nonzero residual is +-1 with its sign "
                              "implied and no length decision",
    "t82-stripes-tp": "edge plane in 12 stripes, seed plane in 20 (the last of one line), both "
                      "closed by SDNORM, typical prediction on: states, LNTP and lines carried "
                      "over",
    "t82-sdrst": "every edge-plane stripe closed by SDRST, typical prediction on, a shorter "
                 "last stripe: states, AT pixel and LNTP reset, lines above blank",
    "t82-two-line": "the two-line template in 8 stripes, typical prediction off",
    "t82-two-line-sdrst": "colour: edge plane with the two-line template, typical prediction "
                          "and SDRST; seed plane in stripes of 3 lines with MX = 0 and typical "
                          "prediction off",
    "t82-newlen-comment": "VLENGTH and COMMENT: the edge plane declares 128 lines, a NEWLEN "
                          "after its last stripe (and a surplus stripe) makes 96; the seed "
                          "plane declares 200, its NEWLEN comes before its last stripe",
    "t82-atmove-alpha": "house-0.25bpp with a screened bi-level alpha plane (mode LA): ATMOVE "
                        "(tau_y = 0) at line 9 of stripe 0 and again at line 9 of stripe 1, "
                        "typical prediction off",
    "v1-tiny": "the version 1 worked example (12 x 8)",
    "v1-smooth-no-edges": "no edges: the encoder falls back to one seed point (SEED plane)",
    "v1-noise-all-edges": "edges almost everywhere, spacing 1, 256 levels",
    "v1-odd-37x23": "odd width and height, spacing 2",
    "v1-house-t16": "256 x 256 at threshold 16",
    "v1-house-t40": "256 x 256 at threshold 40, spacing 6",
    "v1-splash-t24": "one of the paper's 512 x 512 images, default options",
    "v1-airplane-t24": "one of the paper's 512 x 512 images, default options",
    "v1-peppers-t24": "one of the paper's 512 x 512 images, default options",
    "v1-peppers-paper": "the paper's own settings: plain Sobel threshold, no thinning, no "
                        "hysteresis, stored pixel values (no tonal optimisation)",
    "v1-comic-t32": "a cartoon-like image",
}


def exercises(name: str) -> str:
    if name.startswith("v2-"):
        return (f"{name[3:]} as written in version 2 (VALS coding 0): "
                f"{EXERCISES[name[3:]]}")
    return EXERCISES[name]


README_HEAD = """\
# Golden corpus

Each `NAME.ipc` comes with `NAME.png`, its reference decoding. A conforming decoder
(spec/FORMAT.md section 9) reproduces every reference within +-1 grey level (in colour, +-1 on
each R, G, B sample), exactly at the stored pixels, and alpha exactly. `MANIFEST.json` lists each
file's format version, mode, seed lattice step, encoder options, size, bit rate, number of
stored pixels, PSNR against its source image, SHA-256 and what it exercises; this README is
made from it by `python tests/corpus/make_corpus.py --readme`.

The references are **not** produced by PIL_ipc's decoder: `tests/conformance/reference_decoder.py` decodes
the bi-level planes with JBIG-KIT's `jbgtopbm`, finds the source points and decodes the values
with plain-Python transcriptions of sections 6 and 7, and solves the PDE of section 8 with
scipy's sparse direct solver (once per channel in colour, with the inverse transform of
section 7.1).
"""

README_SECTIONS = (
    ("Version 5 (current): edge-pixel sides",
     "Grey files with a SIDE chunk (spec section 8.1); the encoder writes version 5 only for them.",
     lambda n, e: e["version"] == 5 and not n.startswith("t82-")),
    ("Version 4: grey with alpha, colour, colour with alpha",
     "Modes LA, RGB and RGBA (spec sections 7.1, 7.2); the encoder writes them as version 4.",
     lambda n, e: e["version"] == 4 and not n.startswith("t82-")),
    ("Version 3: grey",
     "The encoder writes grey (mode L) files as version 3, VALS coding 1 (spec section 7); a "
     "version 4 decoder reads them as they are.",
     lambda n, e: e["version"] == 3 and not n.startswith("t82-")),
    ("T.82 planes (spec appendix B)",
     "Each is a file above with its bi-level planes coded again by JBIG-KIT's `pbmtojbg` (or "
     "`pbmtojbg85`) with the options shown, so it decodes to the image of that file: several "
     "stripes, SDRST, typical prediction on and off, the two-line template, ATMOVE, COMMENT "
     "and NEWLEN.",
     lambda n, e: n.startswith("t82-")),
    ("Version 2 (kept as written)",
     "The version 2 corpus, kept byte for byte under the names above with a `v2-` prefix: later "
     "decoders must still decode them to the same references.",
     lambda n, e: e["version"] == 2),
    ("Version 1 (kept as written)",
     "Written by the version 1 encoder (14-byte IHDR, no lattice) and kept byte for byte: later "
     "decoders must still decode them (spec section 4.15) to the same references.",
     lambda n, e: e["version"] == 1),
)

README_TAIL = """\
Regenerate with `python tests/corpus/make_corpus.py` (needs `../shared/corpus-src` and
JBIG-KIT) whenever the format changes, together with the version byte and the spec; `--only
NAME ...` regenerates some entries only. It re-encodes the files of the current versions and
codes the `t82-*` planes again; it checks that the files of earlier versions are unchanged and
that the reference decoder still reproduces their PNGs.
"""


def readme(manifest: dict) -> str:
    """README.md of the corpus, made from the manifest alone."""
    parts = [README_HEAD]
    for title, text, chosen in README_SECTIONS:
        names = sorted(n for n, e in manifest.items() if chosen(n, e))
        parts.append(f"## {title}\n\n{text}\n")
        rows = ["| file | version, mode | size | what it exercises |", "|---|---|---|---|"]
        for n in names:
            e = manifest[n]
            what = e["exercises"]
            if "planes" in e:
                what += " (from " + e["from"] + "; " + "; ".join(
                    f"{t}: `{cmd}`" for t, cmd in e["planes"].items()) + ")"
            rows.append(f"| {n} | {e['version']}, {e.get('mode', 'L')} | "
                        f"{e['width']} x {e['height']} | {what} |")
        parts.append("\n".join(rows) + "\n")
    parts.append(README_TAIL)
    return "\n".join(parts)


def write_readme(manifest: dict) -> None:
    for name, entry in manifest.items():
        entry["exercises"] = exercises(name)
    (HERE / "README.md").write_text(readme(manifest))


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
    ap.add_argument("--readme", action="store_true",
                    help="only describe the entries in MANIFEST.json and write README.md")
    args = ap.parse_args()
    manifest_path = HERE / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    if args.readme:
        write_readme(manifest)
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        return
    check_frozen(manifest)
    for name, img, opts in entries(args.corpus_src):
        if args.only and name not in args.only:
            continue
        settings = {k: v for k, v in opts.items() if k not in METADATA}
        metadata = {k: v.encode("utf-8") for k, v in opts.items() if k in METADATA}
        data = encode.encode(img, encode.EncodeOptions(**settings), **metadata)
        header = reader.parse(data).header
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
    write_t82_files(manifest, args.only)
    write_readme(manifest)
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
