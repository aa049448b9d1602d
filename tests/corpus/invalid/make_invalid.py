"""Regenerate the invalid corpus: broken .ipc files made from the golden corpus.

    python tests/corpus/invalid/make_invalid.py [--check]

Each file is a golden-corpus file with one thing broken.  MANIFEST.json records, per file,
what is broken, its source, where Pillow stops (``open``: ``Image.open`` raises; ``load``:
``Image.open`` succeeds and ``load()`` raises), the exception class and a fragment of the
codec's message, and what ``ImageFile.LOAD_TRUNCATED_IMAGES`` makes of it (``pixels`` or
``error``: the same exception).  tests/conformance/test_invalid.py checks every entry through Pillow.
Run this again when the format changes; ``--check`` only compares the files with what it
would write.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent
sys.path.insert(0, str(CORPUS.parent / "conformance"))  # for ipc_chunks

from ipc_chunks import SIGNATURE, chunk, join, offsets, split  # noqa: E402

OPEN, LOAD = "open", "load"
UNIDENTIFIED, OSERROR, BOMB = "UnidentifiedImageError", "OSError", "DecompressionBombError"


def source(name: str) -> list[list]:
    return split((CORPUS / f"{name}.ipc").read_bytes())


def index(chunks: list[list], ctype: bytes) -> int:
    return next(i for i, (t, _) in enumerate(chunks) if t == ctype)


def replaced(chunks: list[list], ctype: bytes, body: bytes) -> list[list]:
    out = [list(c) for c in chunks]
    out[index(out, ctype)][1] = body
    return out


def with_field(chunks, ctype: bytes, offset: int, fmt: str, value: int) -> list[list]:
    body = chunks[index(chunks, ctype)][1]
    size = struct.calcsize(fmt)
    return replaced(chunks, ctype, body[:offset] + struct.pack(fmt, value)
                    + body[offset + size :])


def without(chunks, ctype: bytes) -> list[list]:
    return [list(c) for c in chunks if c[0] != ctype]


def moved(chunks, ctype: bytes, before: bytes) -> list[list]:
    """``ctype`` taken out and put back just before ``before``."""
    out = [list(c) for c in chunks]
    taken = out.pop(index(out, ctype))
    out.insert(index(out, before), taken)
    return out


def inserted(chunks, before: bytes, ctype: bytes, body: bytes) -> list[list]:
    out = [list(c) for c in chunks]
    out.insert(index(out, before), [ctype, body])
    return out


def framed(chunks, ctype: bytes, **override) -> bytes:
    """The file with one chunk's length or CRC field overridden."""
    i = index(chunks, ctype)
    return SIGNATURE + b"".join(
        chunk(t, b, **(override if j == i else {})) for j, (t, b) in enumerate(chunks))


def cut_at(chunks, ctype: bytes, into: int | None = None) -> bytes:
    """The file cut at the start of chunk ``ctype`` or ``into`` bytes into its data."""
    data = join(chunks)
    start = offsets(chunks)[index(chunks, ctype)]
    return data[:start] if into is None else data[: start + 8 + into]


def bie_with(bie: bytes, offset: int, fmt: str, value: int) -> bytes:
    size = struct.calcsize(fmt)
    return bie[:offset] + struct.pack(fmt, value) + bie[offset + size :]


def entries():
    """(name, bytes, what is broken, source, stage, exception, message fragment, lenient)."""
    tiny = source("tiny")
    whole = join(tiny)
    edge = tiny[index(tiny, b"EDGE")][1]
    vals = tiny[index(tiny, b"VALS")][1]
    seeds = source("cartoon-g8-seeds")
    v2 = source("v2-tiny")

    # --- signature
    yield ("signature-bad", b"\x88" + whole[1:], "first signature byte changed", "tiny", OPEN,
           UNIDENTIFIED, "not an IPC file (bad signature)", "error")
    yield ("signature-crlf-to-lf", whole[:4] + whole[5:], "CR LF at offset 4 turned into LF",
           "tiny", OPEN, UNIDENTIFIED, "damaged IPC signature", "error")
    yield ("signature-lf-to-crlf", whole[:7] + b"\r" + whole[7:], "LF at offset 7 turned into "
           "CR LF", "tiny", OPEN, UNIDENTIFIED, "damaged IPC signature", "error")
    yield ("signature-7-bit", bytes([whole[0] & 0x7F]) + whole[1:], "high bit of the first "
           "byte stripped", "tiny", OPEN, UNIDENTIFIED, "bad signature", "error")
    yield ("signature-cut", whole[:5], "file of 5 bytes", "tiny", OPEN, UNIDENTIFIED,
           "file ends inside the signature", "error")

    # --- CRC
    for ctype, stage in ((b"IHDR", OPEN), (b"EDGE", LOAD), (b"VALS", LOAD)):
        i = index(tiny, ctype)
        yield (f"crc-{ctype.decode().lower()}",
               framed(tiny, ctype, crc=0xFFFFFFFF ^ zlib.crc32(ctype + tiny[i][1])),
               f"{ctype.decode()} CRC inverted", "tiny", stage,
               UNIDENTIFIED if stage == OPEN else OSERROR,
               f"CRC mismatch in {ctype.decode()} chunk", "error")

    # --- truncation at every chunk boundary and inside every data chunk
    yield ("cut-in-ihdr", cut_at(tiny, b"IHDR", 10), "file cut inside IHDR's data", "tiny", OPEN,
           UNIDENTIFIED, "declares 16 data bytes but the file ends", "error")
    yield ("cut-before-text", cut_at(tiny, b"tEXt"), "file cut after IHDR", "tiny", OPEN,
           UNIDENTIFIED, "before the first data chunk", "error")
    yield ("cut-before-edge", cut_at(tiny, b"EDGE"), "file cut after the metadata", "tiny", OPEN,
           UNIDENTIFIED, "before the first data chunk", "error")
    yield ("cut-in-edge", cut_at(tiny, b"EDGE", len(edge) // 2), "file cut inside EDGE's data",
           "tiny", LOAD, OSERROR, "EDGE chunk at offset 249 declares 26 data bytes but the file "
           "ends", "pixels")
    yield ("cut-before-vals", cut_at(tiny, b"VALS"), "file cut after EDGE", "tiny", LOAD,
           OSERROR, "before IEND", "pixels")
    yield ("cut-in-vals-head", cut_at(tiny, b"VALS", 3), "file cut inside VALS's 5-byte head",
           "tiny", LOAD, OSERROR, "VALS chunk at offset 287 declares 11 data bytes", "pixels")
    yield ("cut-in-vals", cut_at(tiny, b"VALS", 8), "file cut inside VALS's payload", "tiny",
           LOAD, OSERROR, "VALS chunk at offset 287 declares 11 data bytes", "pixels")
    yield ("cut-before-iend", cut_at(tiny, b"IEND"), "file cut after VALS", "tiny", LOAD,
           OSERROR, "before IEND", "pixels")
    yield ("cut-in-iend-crc", whole[:-2], "last two bytes (IEND's CRC) missing", "tiny", LOAD,
           OSERROR, "IEND chunk at offset 310 declares 0 data bytes", "pixels")
    seed = seeds[index(seeds, b"SEED")][1]
    yield ("cut-in-seed", cut_at(seeds, b"SEED", len(seed) // 2), "file cut inside SEED's data",
           "cartoon-g8-seeds", LOAD, OSERROR, "SEED chunk at offset", "pixels")
    yield ("cut-before-seed", cut_at(seeds, b"SEED"), "file cut after EDGE, before SEED",
           "cartoon-g8-seeds", LOAD, OSERROR, "before IEND", "pixels")
    yield ("length-beyond-file", framed(tiny, b"EDGE", length=0x7FFFFFFF), "EDGE declares "
           "2147483647 data bytes", "tiny", LOAD, OSERROR,
           "declares 2147483647 data bytes but the file ends", "pixels")
    yield ("length-over-2-31", framed(tiny, b"VALS", length=0xFFFFFFFF), "VALS declares "
           "2**32 - 1 data bytes", "tiny", LOAD, OSERROR, "declares length 4294967295",
           "error")

    # --- sizes and header fields
    ihdr = (b"IHDR",)
    yield ("size-huge", join(with_field(with_field(tiny, *ihdr, 2, ">I", 100_000), *ihdr, 6, ">I",
                                        100_000)),
           "100000 x 100000 pixels declared", "tiny", OPEN, BOMB, "could be decompression bomb",
           "error")
    yield ("size-max", join(with_field(with_field(tiny, *ihdr, 2, ">I", 2**31 - 1), *ihdr, 6,
                                       ">I", 2**31 - 1)),
           "(2**31 - 1) x (2**31 - 1) pixels declared", "tiny", OPEN, BOMB,
           "could be decompression bomb", "error")
    yield ("width-zero", join(with_field(tiny, *ihdr, 2, ">I", 0)), "width 0", "tiny", OPEN,
           UNIDENTIFIED, "IHDR width 0 out of range", "error")
    yield ("height-zero", join(with_field(tiny, *ihdr, 6, ">I", 0)), "height 0", "tiny", OPEN,
           UNIDENTIFIED, "IHDR height 0 out of range", "error")
    yield ("width-over-2-31", join(with_field(tiny, *ihdr, 2, ">I", 2**32 - 1)),
           "width 2**32 - 1", "tiny", OPEN, UNIDENTIFIED, "IHDR width 4294967295 out of range",
           "error")
    yield ("version-unknown", join(with_field(tiny, *ihdr, 0, ">B", 200)), "format version 200",
           "tiny", OPEN, UNIDENTIFIED, "unsupported format version 200", "error")
    yield ("version-1-long-ihdr", join(with_field(tiny, *ihdr, 0, ">B", 1)), "version 1 with a "
           "16-byte IHDR", "tiny", OPEN, UNIDENTIFIED, "IHDR of version 1 has length 16", "error")
    yield ("mode-reserved", join(with_field(tiny, *ihdr, 1, ">B", 255)), "mode code 255",
           "tiny", OPEN, UNIDENTIFIED, "unsupported IHDR mode code 255", "error")
    yield ("flags-set", join(with_field(tiny, *ihdr, 13, ">B", 1)), "IHDR flags 1", "tiny", OPEN,
           UNIDENTIFIED, "IHDR flags must be 0", "error")
    yield ("levels-1", join(with_field(tiny, *ihdr, 10, ">H", 1)), "levels 1", "tiny", OPEN,
           UNIDENTIFIED, "IHDR levels 1 out of range 2..256", "error")
    yield ("levels-257", join(with_field(tiny, *ihdr, 10, ">H", 257)), "levels 257", "tiny", OPEN,
           UNIDENTIFIED, "IHDR levels 257 out of range 2..256", "error")
    yield ("spacing-zero", join(with_field(tiny, *ihdr, 12, ">B", 0)), "spacing 0", "tiny", OPEN,
           UNIDENTIFIED, "IHDR spacing 0 out of range 1..255", "error")

    # --- planes
    yield ("plane-size-mismatch", join(replaced(tiny, b"EDGE", bie_with(edge, 4, ">I", 13))),
           "EDGE's BIH says 13 x 8, IHDR 12 x 8", "tiny", LOAD, OSERROR,
           "edge plane is 13x8, header says 12x8", "error")
    yield ("plane-height-mismatch", join(replaced(tiny, b"EDGE", bie_with(edge, 8, ">I", 9))),
           "EDGE's BIH says 12 x 9, IHDR 12 x 8", "tiny", LOAD, OSERROR,
           "edge plane is 12x9, header says 12x8", "error")
    yield ("plane-newlen-mismatch", join(replaced(tiny, b"EDGE", bie_with(
        bie_with(edge, 8, ">I", 20), 19, ">B", edge[19] | 0x20) + b"\xff\x05" + struct.pack(
            ">I", 7))),
           "EDGE's BIH says 12 x 20 with VLENGTH, its NEWLEN 7 lines, IHDR 12 x 8", "tiny", LOAD,
           OSERROR, "edge plane", "error")
    yield ("seed-size-mismatch", join(replaced(seeds, b"SEED", bie_with(seed, 8, ">I", 95))),
           "SEED's BIH says 96 x 95, IHDR 96 x 96", "cartoon-g8-seeds", LOAD, OSERROR,
           "seed plane is 96x95, header says 96x96", "error")
    yield ("jbig-layers", join(replaced(tiny, b"EDGE", bie_with(edge, 1, ">B", 1))),
           "EDGE's BIH declares D = 1 (resolution layers)", "tiny", LOAD, OSERROR,
           "resolution layers are not supported", "pixels")
    yield ("jbig-abort", join(replaced(tiny, b"EDGE", edge[:20] + b"\xff\x04" + edge[20:])),
           "ABORT marker segment before the first stripe", "tiny", LOAD, OSERROR,
           "ABORT marker segment", "pixels")
    yield ("jbig-reserved-marker", join(replaced(tiny, b"EDGE", edge[:20] + b"\xff\x7f"
                                                 + edge[20:])),
           "reserved marker 0xFF 0x7F before the first stripe", "tiny", LOAD, OSERROR,
           "unknown or reserved marker 0xFF 0x7f", "pixels")
    yield ("jbig-atmove-outside", join(replaced(tiny, b"EDGE", edge[:20] + b"\xff\x06"
                                                + struct.pack(">IBB", 0, 100, 0) + edge[20:])),
           "ATMOVE to tx = 100 beyond MX = 8", "tiny", LOAD, OSERROR,
           "ATMOVE to (100, 0) outside MX=8", "pixels")
    yield ("jbig-newlen-without-vlength", join(replaced(tiny, b"EDGE", edge[:20] + b"\xff\x05"
                                                       + struct.pack(">I", 4) + edge[20:])),
           "NEWLEN before the stripe without VLENGTH", "tiny", LOAD, OSERROR,
           "NEWLEN marker segment without VLENGTH", "pixels")
    yield ("jbig-no-stripe-end", join(replaced(tiny, b"EDGE", edge[:-2])),
           "EDGE's stripe without its SDNORM marker", "tiny", LOAD, OSERROR,
           "BIE ends inside stripe 0 of 1", "pixels")

    # --- values
    yield ("value-count-mismatch", join(replaced(tiny, b"VALS", struct.pack(">I", 15)
                                                 + vals[4:])),
           "VALS count 15, the planes give 14", "tiny", LOAD, OSERROR,
           "VALS declares 15 values, the planes give 14", "pixels")
    yield ("vals-coding-unknown", join(replaced(tiny, b"VALS", vals[:4] + b"\x02" + vals[5:])),
           "VALS coding 2", "tiny", LOAD, OSERROR, "unknown VALS coding 2", "error")
    yield ("vals-coding-1-in-version-2", join(replaced(v2, b"VALS", v2[index(v2, b"VALS")][1][:4]
                                                       + b"\x01" + v2[index(v2, b"VALS")][1][5:])),
           "VALS coding 1 in a version 2 file", "v2-tiny", LOAD, OSERROR,
           "unknown VALS coding 1", "error")
    yield ("vals-short", join(replaced(tiny, b"VALS", vals[:4])), "VALS of 4 bytes",
           "tiny", LOAD, OSERROR, "has length 4, needs at least 5", "error")
    v2_vals = v2[index(v2, b"VALS")][1]
    yield ("vals-out-of-range", join(replaced(v2, b"VALS", v2_vals[:5] + b"\x00\x00\x00\x00")),
           "coding 0 payload of four 0x00 bytes: value 4 decodes outside 0..15", "v2-tiny", LOAD, OSERROR,
           "decodes outside 0..15", "pixels")
    smooth = source("v1-smooth-no-edges")
    yield ("no-stored-pixels", join(replaced(without(smooth, b"SEED"), b"VALS",
                                             b"\x00\x00\x00\x00\x00")),
           "no edges, no SEED, count 0: nothing stored", "v1-smooth-no-edges", LOAD, OSERROR,
           "no stored pixels", "pixels")

    # --- chunks and their order
    yield ("unknown-critical-chunk", join(inserted(tiny, b"EDGE", b"QUUX", b"data")),
           "unknown critical chunk QUUX before EDGE", "tiny", OPEN, UNIDENTIFIED,
           "unknown critical QUUX chunk", "error")
    yield ("unknown-critical-after-edge", join(inserted(tiny, b"VALS", b"EDGe", b"data")),
           "unknown critical chunk EDGe after EDGE", "tiny", LOAD, OSERROR,
           "unknown critical EDGe chunk", "error")
    yield ("chunk-type-not-letters", join(inserted(tiny, b"EDGE", b"ED\x00E", b"")),
           "chunk type with a NUL byte", "tiny", OPEN, UNIDENTIFIED, "is not 4 ASCII letters",
           "error")
    yield ("vals-before-edge", join(moved(tiny, b"VALS", b"EDGE")), "VALS before EDGE", "tiny",
           OPEN, UNIDENTIFIED, "VALS chunk at offset 249 comes before EDGE", "error")
    yield ("seed-after-vals", join(moved(seeds, b"SEED", b"IEND")), "SEED after VALS",
           "cartoon-g8-seeds", LOAD, OSERROR, "comes after VALS", "error")
    yield ("text-after-edge", join(inserted(tiny, b"VALS", b"tEXt", b"late\x00text")),
           "tEXt between EDGE and VALS", "tiny", LOAD, OSERROR,
           "comes after a data chunk; metadata must precede EDGE", "error")
    yield ("ihdr-not-first", join(moved(tiny, b"tEXt", b"IHDR")), "tEXt before IHDR", "tiny",
           OPEN, UNIDENTIFIED, "first chunk must be IHDR", "error")
    yield ("ihdr-twice", join(inserted(tiny, b"EDGE", b"IHDR", tiny[0][1])), "a second IHDR",
           "tiny", OPEN, UNIDENTIFIED, "duplicate IHDR chunk", "error")
    yield ("edge-twice", join(inserted(tiny, b"VALS", b"EDGE", edge)), "a second EDGE", "tiny",
           LOAD, OSERROR, "duplicate EDGE chunk", "error")
    yield ("edge-missing", join(without(tiny, b"EDGE")), "no EDGE chunk", "tiny", OPEN,
           UNIDENTIFIED, "VALS chunk at offset 249 comes before EDGE", "error")
    yield ("vals-missing", join(without(tiny, b"VALS")), "no VALS chunk", "tiny", LOAD, OSERROR,
           "missing VALS chunk before IEND", "error")
    yield ("iend-missing", join(without(tiny, b"IEND")), "no IEND chunk", "tiny", LOAD, OSERROR,
           "before IEND", "pixels")
    yield ("iend-not-empty", join(replaced(tiny, b"IEND", b"x")), "IEND with one data byte",
           "tiny", LOAD, OSERROR, "IEND chunk at offset 310 has length 1, must be 0", "error")
    yield ("text-no-nul", join(replaced(tiny, b"tEXt", b"Software PIL_ipc")),
           "tEXt without the NUL after its keyword", "tiny", OPEN, UNIDENTIFIED,
           "tEXt chunk has no NUL", "error")
    yield ("text-not-utf8", join(replaced(tiny, b"tEXt", b"Software\x00\xff\xfe")),
           "tEXt text not UTF-8", "tiny", OPEN, UNIDENTIFIED, "text is not UTF-8", "error")
    yield ("text-keyword-repeated", join(inserted(tiny, b"EDGE", b"tEXt", tiny[1][1])),
           "a tEXt keyword twice", "tiny", OPEN, UNIDENTIFIED, "tEXt keyword 'Software' repeated",
           "error")


def colour_entries():
    """Version 4: chroma (CVAL) and alpha (ALPH)."""
    rgb = source("rgb-photo")
    rgba = source("rgba-bilevel-alpha")
    graded = source("rgba-graded-alpha")
    la = source("la-graded-alpha")
    cval = rgb[index(rgb, b"CVAL")][1]
    alph = rgba[index(rgba, b"ALPH")][1]
    alph_graded = graded[index(graded, b"ALPH")][1]
    residuals = zlib.decompress(alph_graded[1:])
    w, h = 48, 40  # rgba-graded-alpha

    yield ("cval-missing", join(without(rgb, b"CVAL")), "RGB image without CVAL", "rgb-photo",
           LOAD, OSERROR, "missing CVAL chunk: a RGB image needs its chroma values", "error")
    yield ("cval-in-grey-image", join(inserted(la, b"ALPH", b"CVAL", cval)),
           "CVAL chunk in an LA image", "la-graded-alpha", LOAD, OSERROR,
           "CVAL chunk at offset", "error")
    yield ("cval-before-vals", join(moved(rgb, b"CVAL", b"VALS")), "CVAL before VALS",
           "rgb-photo", LOAD, OSERROR, "comes before", "error")
    yield ("cval-short", join(replaced(rgb, b"CVAL", cval[:7])), "CVAL of 7 bytes (head is 8)",
           "rgb-photo", LOAD, OSERROR, "CVAL chunk at offset", "error")
    yield ("cval-count-mismatch", join(replaced(rgb, b"CVAL", cval[:4]
                                                + struct.pack(">I", int.from_bytes(cval[4:8], "big")
                                                              + 1) + cval[8:])),
           "CVAL count one more than the source points and stride give", "rgb-photo", LOAD,
           OSERROR, "CVAL declares", "pixels")
    yield ("cval-stride-zero", join(replaced(rgb, b"CVAL", cval[:2] + b"\x00" + cval[3:])),
           "CVAL stride 0", "rgb-photo", LOAD, OSERROR, "stride", "error")
    yield ("cval-levels-1", join(replaced(rgb, b"CVAL", struct.pack(">H", 1) + cval[2:])),
           "CVAL levels 1", "rgb-photo", LOAD, OSERROR, "levels", "error")
    yield ("cval-coding-unknown", join(replaced(rgb, b"CVAL", cval[:3] + b"\x02" + cval[4:])),
           "CVAL coding 2", "rgb-photo", LOAD, OSERROR, "unknown CVAL coding 2", "error")
    yield ("cut-in-cval", cut_at(rgb, b"CVAL", len(cval) // 2), "file cut inside CVAL's payload",
           "rgb-photo", LOAD, OSERROR, "CVAL chunk at offset", "pixels")
    yield ("mode-rgb-in-version-3", join(with_field(with_field(rgb, b"IHDR", 0, ">B", 3), b"IHDR",
                                                    1, ">B", 2)),
           "mode 2 (RGB) in a version 3 file", "rgb-photo", OPEN, UNIDENTIFIED,
           "unsupported IHDR mode code 2 in format version 3", "error")
    yield ("alph-missing", join(without(rgba, b"ALPH")), "RGBA image without ALPH",
           "rgba-bilevel-alpha", LOAD, OSERROR,
           "missing ALPH chunk: a RGBA image needs its alpha plane", "error")
    yield ("alph-in-rgb-image", join(inserted(rgb, b"IEND", b"ALPH", alph)),
           "ALPH chunk in an RGB image", "rgb-photo", LOAD, OSERROR, "ALPH chunk at offset",
           "error")
    yield ("alph-coding-unknown", join(replaced(rgba, b"ALPH", b"\x02" + alph[1:])),
           "ALPH coding 2", "rgba-bilevel-alpha", LOAD, OSERROR, "unknown ALPH coding 2",
           "error")
    yield ("alph-plane-size-mismatch", join(replaced(rgba, b"ALPH", alph[:1]
                                                     + bie_with(alph[1:], 8, ">I", 47))),
           "the bi-level alpha plane's BIH says 56 x 47, IHDR 56 x 48", "rgba-bilevel-alpha",
           LOAD, OSERROR, "alpha plane is 56x47, header says 56x48", "error")
    yield ("alph-bie-broken", join(replaced(rgba, b"ALPH", alph[:21] + b"\xff\x04" + alph[21:])),
           "ABORT marker in the bi-level alpha plane", "rgba-bilevel-alpha", LOAD, OSERROR,
           "alpha plane: ABORT marker segment", "pixels")
    yield ("alph-graded-short", join(replaced(graded, b"ALPH", b"\x01"
                                              + zlib.compress(residuals[:-1]))),
           f"graded alpha residuals of {w * h - 1} bytes for {w * h} pixels", "rgba-graded-alpha",
           LOAD, OSERROR, f"alpha residuals hold {w * h - 1} bytes, the image has {w * h}",
           "pixels")
    yield ("alph-graded-long", join(replaced(graded, b"ALPH", b"\x01"
                                             + zlib.compress(residuals + b"\x00"))),
           f"graded alpha residuals of {w * h + 1} bytes for {w * h} pixels", "rgba-graded-alpha",
           LOAD, OSERROR, f"alpha residuals hold {w * h + 1}+ bytes", "pixels")
    yield ("alph-graded-bomb", join(replaced(graded, b"ALPH", b"\x01"
                                             + zlib.compress(bytes(16 << 20), 9))),
           "graded alpha residuals inflating to 16 MiB for 1920 pixels (inflated no further "
           "than 1921 bytes)", "rgba-graded-alpha", LOAD, OSERROR,
           f"alpha residuals hold {w * h + 1}+ bytes", "pixels")
    yield ("alph-graded-not-zlib", join(replaced(graded, b"ALPH", b"\x01" + residuals[:40])),
           "graded alpha residuals stored without zlib", "rgba-graded-alpha", LOAD, OSERROR,
           "alpha residuals", "pixels")
    yield ("cut-in-alph", cut_at(graded, b"ALPH", len(alph_graded) // 2),
           "file cut inside ALPH's payload", "rgba-graded-alpha", LOAD, OSERROR,
           "ALPH chunk at offset", "pixels")


def side_entries():
    """Version 5: edge-pixel sides (SIDE)."""
    grey = source("sides-gradients")
    la = source("la-sides")
    side = grey[index(grey, b"SIDE")][1]
    count = int.from_bytes(side[:4], "big")

    yield ("side-in-version-4", join(with_field(grey, b"IHDR", 0, ">B", 4)),
           "SIDE chunk in a version 4 file", "sides-gradients", LOAD, OSERROR,
           "SIDE chunk at offset", "error")
    yield ("side-count-mismatch", join(replaced(grey, b"SIDE", struct.pack(">I", count + 1)
                                                + side[4:])),
           "SIDE count one more than the eligible edge pixels", "sides-gradients", LOAD, OSERROR,
           "SIDE declares", "pixels")
    yield ("side-short", join(replaced(grey, b"SIDE", side[:3])), "SIDE of 3 bytes (head is 4)",
           "sides-gradients", LOAD, OSERROR, "SIDE chunk at offset", "error")
    yield ("side-before-vals", join(moved(grey, b"SIDE", b"VALS")), "SIDE before VALS",
           "sides-gradients", LOAD, OSERROR, "comes before", "error")
    yield ("side-after-alph", join(moved(la, b"ALPH", b"SIDE")), "ALPH before SIDE",
           "la-sides", LOAD, OSERROR, "comes after ALPH", "error")


def build() -> tuple[dict[str, bytes], dict]:
    files, manifest = {}, {}
    for name, data, what, src, stage, exc, message, lenient in (*entries(), *colour_entries(),
                                                                 *side_entries()):
        assert name not in files, name
        files[name] = data
        manifest[name] = {"broken": what, "from": src, "stage": stage, "exception": exc,
                          "message": message, "lenient": lenient}
    return files, manifest


def spec_table(manifest: dict) -> str:
    """The table of spec/FORMAT.md section 9 listing the files."""
    stops = {"UnidentifiedImageError": "rejected on open", "OSError": "rejected on load",
             "DecompressionBombError": "size limit on open"}
    rows = ["| file | broken | reference decoder | lenient |", "|---|---|---|---|"]
    for name, e in manifest.items():
        lenient = "decodes" if e["lenient"] == "pixels" else "rejected"
        rows.append(f"| `{name}` | {e['broken']} | {stops[e['exception']]}: `{e['message']}` "
                    f"| {lenient} |")
    return "\n".join(rows) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare only, write nothing")
    ap.add_argument("--table", action="store_true", help="print the spec's table of the files")
    args = ap.parse_args()
    files, manifest = build()
    if args.table:
        print(spec_table(manifest), end="")
        return 0
    text = json.dumps(manifest, indent=1) + "\n"
    if args.check:
        stale = [n for n, d in files.items()
                 if not (HERE / f"{n}.ipc").exists() or (HERE / f"{n}.ipc").read_bytes() != d]
        if (HERE / "MANIFEST.json").read_text() != text:
            stale.append("MANIFEST.json")
        print("stale: " + " ".join(stale) if stale else "up to date")
        return 1 if stale else 0
    for old in HERE.glob("*.ipc"):
        if old.stem not in files:
            old.unlink()
    for name, data in files.items():
        (HERE / f"{name}.ipc").write_bytes(data)
    (HERE / "MANIFEST.json").write_text(text)
    print(f"{len(files)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
