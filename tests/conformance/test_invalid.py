"""The invalid corpus (tests/corpus/invalid/): every broken file fails through Pillow where and
how its manifest says, with the codec's message, and leniently (LOAD_TRUNCATED_IMAGES) as the
manifest says; the files are what make_invalid.py makes; spec section 9 lists them all."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, UnidentifiedImageError

import PIL_ipc  # noqa: F401  (registers the plugin)
from PIL_ipc import IpcImagePlugin, decode
from PIL_ipc.format import jbig

HERE = Path(__file__).resolve().parents[1]  # tests/
INVALID = HERE / "corpus" / "invalid"
MANIFEST = json.loads((INVALID / "MANIFEST.json").read_text())
NAMES = sorted(MANIFEST)
EXCEPTIONS = {"UnidentifiedImageError": UnidentifiedImageError, "OSError": OSError,
              "DecompressionBombError": Image.DecompressionBombError}


def test_enough_files_and_every_file_listed():
    assert len(NAMES) >= 25
    assert {p.stem for p in INVALID.glob("*.ipc")} == set(NAMES)


def test_files_are_what_the_script_makes():
    run = subprocess.run([sys.executable, str(INVALID / "make_invalid.py"), "--check"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_spec_conformance_section_lists_every_file():
    spec = (HERE.parent / "spec" / "FORMAT.md").read_text()
    section = spec[spec.index("## 9 Conformance"):spec.index("## 10 ")]
    missing = [n for n in NAMES if f"`{n}`" not in section]
    assert not missing, f"not in spec section 9: {missing}"
    run = subprocess.run([sys.executable, str(INVALID / "make_invalid.py"), "--table"],
                         capture_output=True, text=True, check=True)
    assert run.stdout in section  # the table says what the manifest says


def _open_and_load(data: bytes):
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return im.size, im.mode


@pytest.mark.parametrize("name", NAMES)
def test_invalid_file_through_pillow(name, monkeypatch):
    entry = MANIFEST[name]
    data = (INVALID / f"{name}.ipc").read_bytes()
    expected = EXCEPTIONS[entry["exception"]]
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", False)
    if entry["stage"] == "open":
        with pytest.raises(expected) as info, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Image.open(io.BytesIO(data))
        if expected is UnidentifiedImageError:
            # Pillow drops the plugin's message; the plugin itself gives it
            with pytest.raises(SyntaxError, match=_fragment(entry)):
                IpcImagePlugin.IpcImageFile(io.BytesIO(data))
        else:
            assert entry["message"] in str(info.value)
    else:
        im = Image.open(io.BytesIO(data))
        assert im.format == "IPC"
        with pytest.raises(expected, match=_fragment(entry)):
            im.load()


@pytest.mark.parametrize("name", NAMES)
def test_invalid_file_leniently(name, monkeypatch):
    entry = MANIFEST[name]
    data = (INVALID / f"{name}.ipc").read_bytes()
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    if entry["lenient"] == "pixels":
        size, mode = _open_and_load(data)
        assert mode in ("L", "LA", "RGB", "RGBA") and size[0] >= 1 and size[1] >= 1
    else:
        with pytest.raises(EXCEPTIONS[entry["exception"]]), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _open_and_load(data)


def _fragment(entry) -> str:
    import re

    return re.escape(entry["message"])


def test_lenient_plane_cut_inside_its_bie_is_an_empty_plane():
    """Spec section 8: a BIE cut inside a stripe, after complete stripes, is an empty plane,
    not the rows decoded so far."""
    from ipc_chunks import join, split

    chunks = split((HERE / "corpus" / "cartoon-g8-seeds.ipc").read_bytes())
    i = next(j for j, c in enumerate(chunks) if c[0] == b"EDGE")
    plane = jbig.decode(chunks[i][1])
    striped = jbig.encode(plane, l0=8, tpbon=False)
    assert np.array_equal(jbig.decode(striped), plane)
    chunks[i][1] = striped
    whole = join(chunks)
    cut = striped[: len(striped) * 3 // 4]  # several complete stripes, then a cut one
    with pytest.raises(jbig.JBIGError, match="ends inside stripe"):
        jbig.decode(cut)
    chunks[i][1] = cut
    empty = jbig.encode(np.zeros_like(plane))
    lenient = decode.decode(join(chunks), lenient=True)
    chunks[i][1] = empty
    assert np.array_equal(lenient, decode.decode(join(chunks), lenient=True))
    assert not np.array_equal(lenient, decode.decode(whole))


def test_lenient_clamped_value_keeps_its_m_for_the_next_class():
    """Spec section 8: a value decoded outside the range is clamped, later predictions use the
    clamped index, and the next activity class is that of the decoded m.  (This payload tells
    that rule apart from taking the class of the clamped residual.)"""
    from reference_decoder import decode_values

    from PIL_ipc.format import values

    payload = bytes.fromhex("b1bc081d")
    predictors = [[i - 1, -1, -1] for i in range(12)]
    expected = [8, 9, 10, 11, 14, 15, 15, 14, 15, 15, 15, 15]
    assert decode_values(payload, predictors, 16, 0, lenient=True) == expected
    got = values.decode(payload, np.array(predictors), 16, 0, lenient=True)
    assert got.tolist() == expected
    with pytest.raises(ValueError):
        values.decode(payload, np.array(predictors), 16, 0)


def test_lenient_missing_vals_is_coding_0():
    """Spec section 4.14: a file cut before VALS decodes as if VALS held count 0, coding 0 and
    no payload (coding 1 gives another image here)."""
    from ipc_chunks import join, split

    cut = (INVALID / "cut-before-vals.ipc").read_bytes()
    chunks = split((HERE / "corpus" / "tiny.ipc").read_bytes())
    i = next(j for j, c in enumerate(chunks) if c[0] == b"VALS")
    lenient = decode.decode(cut, lenient=True)
    images = []
    for coding in (0, 1):
        chunks[i][1] = b"\x00\x00\x00\x00" + bytes([coding])
        images.append(decode.decode(join(chunks), lenient=True))
    assert np.array_equal(lenient, images[0])
    assert not np.array_equal(images[0], images[1])


def test_bytes_after_the_graded_alpha_stream_are_ignored():
    """Spec section 4.11: bytes after the end of a graded ALPH payload's zlib stream are
    ignored."""
    from ipc_chunks import join, split

    data = (HERE / "corpus" / "rgba-graded-alpha.ipc").read_bytes()
    chunks = split(data)
    i = next(j for j, c in enumerate(chunks) if c[0] == b"ALPH")
    assert chunks[i][1][0] == 1
    chunks[i][1] += b"\x00\xffafter the stream"
    assert np.array_equal(decode.decode(join(chunks)), decode.decode(data))
