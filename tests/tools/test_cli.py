"""Tests of the command line, run as `python -m PIL_ipc` in a subprocess."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import structural_similarity

import PIL_ipc
from PIL_ipc.format import container, reader
from PIL_ipc import decode

SIZE = 64


def run(*args: str, cwd: Path, stdin: bytes | None = None, text: bool = True
        ) -> subprocess.CompletedProcess:
    # (the subprocess imports this checkout's PIL_ipc: tests/conftest.py)
    result = subprocess.run(
        [sys.executable, "-m", "PIL_ipc", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        timeout=300,
    )
    if text:
        result.stdout = result.stdout.decode()
    result.stderr = result.stderr.decode()
    return result


def grey_array() -> np.ndarray:
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    a = 30 + 2 * x + y
    a[20:40, 10:50] = 210
    return np.clip(a, 0, 255).astype(np.uint8)


def assert_one_line_error(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ipc: error: "), result.stderr


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    Image.fromarray(grey_array(), "L").save(d / "grey.png")
    return d


@pytest.fixture(scope="module")
def encoded(work) -> Path:
    result = run("encode", "grey.png", "grey.ipc", cwd=work)
    assert result.returncode == 0, result.stderr
    # no warning: the input is already grey (the first run may say that it compiles)
    assert all("compiling" in line for line in result.stderr.splitlines()), result.stderr
    return work / "grey.ipc"


def test_encode(encoded):
    with Image.open(encoded) as im:
        assert (im.format, im.mode, im.size) == ("IPC", "L", (SIZE, SIZE))


def test_encode_keeps_the_settings_given(work):
    options = ["--threshold", "24", "--levels", "17", "--spacing", "3", "--tonal", "0",
               "--min-length", "2"]
    result = run("encode", "grey.png", "set.ipc", *options, "--no-thin", cwd=work)
    assert result.returncode == 0, result.stderr
    with Image.open(work / "set.ipc") as im:
        assert (im.mode, im.info["levels"], im.info["spacing"]) == ("L", 17, 3)
        # the encoder records its settings in tEXt
        assert (str(im.info["tonal"]), str(im.info["min_length"])) == ("0", "2")


def test_colour_settings(work):
    rgb = np.stack([grey_array()] * 3, axis=-1)
    Image.fromarray(rgb, "RGB").save(work / "grey-rgb.png")
    result = run("encode", "grey-rgb.png", "chroma.ipc", "--chroma-levels", "12",
                 "--edge-source", "luma", cwd=work)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    with Image.open(work / "chroma.ipc") as im:
        assert im.mode == "RGB"
        assert reader.parse((work / "chroma.ipc").read_bytes()).chroma.levels == 12
    result = run("encode", "grey-rgb.png", "x.ipc", "--edge-source", "sideways", cwd=work)
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_encode_keeps_a_mode_ipc_stores_and_converts_only_what_it_must(work):
    grey = grey_array()
    rgb = np.stack([grey, 255 - grey, grey // 2], axis=-1)
    Image.fromarray(rgb, "RGB").save(work / "rgb.png")
    Image.fromarray(rgb, "RGB").quantize(16).save(work / "pal.png")
    Image.fromarray((grey.astype(np.uint16) * 257 + 100).astype("<u2")).save(work / "deep.png")
    for name, stored, note in (("rgb.png", "RGB", None), ("pal.png", "RGB", "P to RGB"),
                               ("deep.png", "L", "I;16 to L")):
        out = name.replace(".png", ".ipc")
        result = run("encode", name, out, "--size", "900", "--effort", "0", "-v", cwd=work)
        assert result.returncode == 0, result.stderr
        warnings = [line for line in result.stderr.splitlines() if "warning" in line]
        if note is None:
            assert warnings == [], result.stderr
        else:
            assert len(warnings) == 1 and f"warning: converting {note}" in warnings[0]
        assert f"64 x 64 {stored}," in result.stderr
        with Image.open(work / name) as source, Image.open(work / out) as im:
            assert im.mode == stored
            if name == "deep.png":  # 16 bits scaled to 8, rounded
                reference = np.round(np.asarray(source, dtype=float) / 257).astype(np.uint8)
            else:
                reference = np.asarray(source.convert(stored))
            # -v measures in the stored mode: PSNR over every channel
            decoded = np.asarray(im).astype(float)
            mse = np.mean((decoded - reference) ** 2)
            reported = float(re.search(r"PSNR ([\d.]+) dB", result.stderr)[1])
            assert reported == pytest.approx(10 * np.log10(255**2 / mse), abs=0.005)


def test_encode_to_a_size_with_an_effort(work):
    result = run("encode", "grey.png", "fast.ipc", "--size", "300", "--effort", "0", cwd=work)
    assert result.returncode == 0, result.stderr
    assert 0 < (work / "fast.ipc").stat().st_size <= 300


def test_decode(work, encoded):
    result = run("decode", "grey.ipc", "back.png", cwd=work)
    assert result.returncode == 0, result.stderr
    with Image.open(work / "back.png") as im:
        assert im.format == "PNG"
        np.testing.assert_array_equal(np.asarray(im), decode.decode(encoded.read_bytes()))


def test_info(work, encoded):
    result = run("info", "grey.ipc", cwd=work)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    size = encoded.stat().st_size
    assert f"({size} bytes, {8 * size / SIZE**2:.4f} bpp)" in out
    assert "size:     64 x 64" in out and f"version:  {container.version_for('L')}" in out
    # chunk rows in file order: IHDR first at offset 8 with length 16, IEND last and empty
    rows = [line.split() for line in out.splitlines() if line.startswith("          ")]
    assert rows[0] == ["8", "IHDR", "16"]
    assert rows[-1] == [str(size - 12), "IEND", "0"]
    types = [r[1] for r in rows]
    assert types.index("EDGE") < types.index("VALS")


def test_info_and_decode_version_1(work, corpus):
    """A file written as format version 1 (14-byte IHDR) is still read."""
    (work / "old.ipc").write_bytes((corpus / "v1-tiny.ipc").read_bytes())
    result = run("info", "old.ipc", cwd=work)
    assert result.returncode == 0, result.stderr
    assert "version:  1" in result.stdout and "size:     12 x 8" in result.stdout
    assert "lattice:  0" in result.stdout
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("          ")]
    assert rows[0] == ["8", "IHDR", "14"]
    result = run("decode", "old.ipc", "old.png", cwd=work)
    assert result.returncode == 0, result.stderr
    expected = decode.decode((work / "old.ipc").read_bytes())
    with Image.open(corpus / "v1-tiny.png") as ref:
        reference = np.asarray(ref).astype(int)
    with Image.open(work / "old.png") as im:
        np.testing.assert_array_equal(np.asarray(im), expected)
        assert np.abs(np.asarray(im) - reference).max() <= 1  # spec section 9


def test_info_shows_the_lattice(work, corpus):
    (work / "tiny.ipc").write_bytes((corpus / "tiny.ipc").read_bytes())
    result = run("info", "tiny.ipc", cwd=work)
    assert result.returncode == 0, result.stderr
    # tiny.ipc: file bytes 30-31 (IHDR data offset 14) hold the lattice step (spec 4.3)
    step = int.from_bytes((work / "tiny.ipc").read_bytes()[30:32], "big")
    assert step == 4 and f"lattice:  {step}" in result.stdout


def test_info_shows_the_edge_sides(work, corpus):
    data = (corpus / "sides-gradients.ipc").read_bytes()
    (work / "s.ipc").write_bytes(data)
    result = run("info", "s.ipc", cwd=work)
    assert result.returncode == 0, result.stderr
    # the SIDE chunk's data: its count (u32), then the payload (spec 4.11a)
    at = data.index(b"SIDE")
    length = int.from_bytes(data[at - 4:at], "big")
    count = int.from_bytes(data[at + 4:at + 8], "big")
    assert "version:  5" in result.stdout
    assert f"sides:    {count} eligible edge pixels ({length - 4} bytes)" in result.stdout
    (work / "t.ipc").write_bytes((corpus / "tiny.ipc").read_bytes())
    assert "sides:" not in run("info", "t.ipc", cwd=work).stdout


def test_usage_errors_exit_2(work):
    for args in (
        (),
        ("encode", "grey.png"),
        ("frobnicate",),
        ("encode", "grey.png", "x.ipc", "--bpp", "1", "--size", "100"),
        ("encode", "grey.png", "x.ipc", "--levels", "ten"),
        ("encode", "grey.png", "x.ipc", "--levels", "1"),
        ("encode", "grey.png", "x.ipc", "--spacing", "0"),
        ("encode", "grey.png", "x.ipc", "--size", "300", "--effort", "3"),
    ):
        result = run(*args, cwd=work)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "error: " in lines[0] and "--help" in lines[0], result.stderr
    assert not (work / "x.ipc").exists()


def test_bad_input_exit_1(work, encoded):
    (work / "junk.png").write_bytes(b"not an image at all")
    data = encoded.read_bytes()
    (work / "crc.ipc").write_bytes(data[:-20] + bytes([data[-20] ^ 1]) + data[-19:])
    (work / "short.ipc").write_bytes(data[: len(data) // 2])
    for args in (
        ("encode", "missing.png", "x.ipc"),
        ("encode", "junk.png", "x.ipc"),
        ("decode", "grey.png", "x.png"),  # not an IPC file
        ("decode", "crc.ipc", "x.png"),
        ("decode", "short.ipc", "x.png"),
        ("decode", "grey.ipc", "x.unknownext"),
        ("info", "crc.ipc"),
        ("info", "short.ipc"),
        ("info", "grey.png"),
    ):
        assert_one_line_error(run(*args, cwd=work))


def test_damaged_files_name_their_cause(work, encoded):
    data = encoded.read_bytes()
    (work / "cut.ipc").write_bytes(data[: len(data) - 30])
    (work / "flip.ipc").write_bytes(data[:-20] + bytes([data[-20] ^ 1]) + data[-19:])
    (work / "head.ipc").write_bytes(data[:20])
    for name, cause in (("cut.ipc", "ends at byte"), ("flip.ipc", "CRC"),
                        ("head.ipc", "ends"), ("grey.png", "not an IPC file")):
        for command in (("decode", name, "out.png"), ("info", name)):
            result = run(*command, cwd=work)
            assert_one_line_error(result)
            assert name in result.stderr and cause in result.stderr, (command, result.stderr)
            assert "cannot identify" not in result.stderr
    assert not (work / "out.png").exists()


def test_decode_output_format_errors_name_the_formats(work, encoded):
    for out in ("out", "out.unknownext"):
        result = run("decode", "grey.ipc", out, cwd=work)
        assert_one_line_error(result)
        assert "PNG (" in result.stderr and ".png" in result.stderr and "JPEG (" in result.stderr
        assert ("no extension" if out == "out" else "'.unknownext'") in result.stderr
    result = run("decode", "grey.ipc", "out", "--format", "bmp", cwd=work)
    assert result.returncode == 0, result.stderr
    with Image.open(work / "out") as im:
        assert im.format == "BMP"


def test_missing_and_unwritable_files(work, encoded):
    result = run("encode", "nothere.png", "x.ipc", cwd=work)
    assert_one_line_error(result)
    assert "nothere.png" in result.stderr and "No such file" in result.stderr
    (work / "adir").mkdir(exist_ok=True)
    for out in ("nofolder/x.ipc", "adir"):
        result = run("encode", "grey.png", out, "--size", "400", "--effort", "0", cwd=work)
        assert_one_line_error(result)
        assert f"cannot write {out}" in result.stderr
    assert list((work / "adir").iterdir()) == []


def test_a_failed_encode_leaves_the_existing_file_and_no_partial_file(work):
    target = work / "keep.ipc"
    target.write_bytes(b"precious")
    before = sorted(p.name for p in work.iterdir())
    # 10 bytes cannot hold any file: the encoder refuses
    result = run("encode", "grey.png", "keep.ipc", "--size", "10", "--effort", "0", cwd=work)
    assert_one_line_error(result)
    assert target.read_bytes() == b"precious"
    assert sorted(p.name for p in work.iterdir()) == before


def test_a_successful_encode_replaces_the_file(work):
    target = work / "replace.ipc"
    target.write_bytes(b"old")
    result = run("encode", "grey.png", "replace.ipc", "--size", "400", "--effort", "0", cwd=work)
    assert result.returncode == 0, result.stderr
    assert target.read_bytes().startswith(container.SIGNATURE)
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # not the private temporary's mode
    assert not [p for p in work.iterdir() if p.name.endswith(".part")]


def test_standard_input_and_output(work):
    source = (work / "grey.png").read_bytes()
    result = run("encode", "-", "-", "--size", "400", "--effort", "0", cwd=work, stdin=source,
                 text=False)
    assert result.returncode == 0, result.stderr
    data = result.stdout
    assert data.startswith(container.SIGNATURE) and len(data) <= 400
    result = run("decode", "-", "-", cwd=work, stdin=data, text=False)
    assert result.returncode == 0, result.stderr
    with Image.open(io.BytesIO(result.stdout)) as im:
        assert im.format == "PNG"
        np.testing.assert_array_equal(np.asarray(im), decode.decode(data))


def test_verbose_reports_the_file_and_its_quality(work):
    result = run("encode", "grey.png", "v.ipc", "--size", "500", "--effort", "0", "-v", cwd=work)
    assert result.returncode == 0, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    m = re.fullmatch(r"ipc: v\.ipc: (\d+) bytes, ([\d.]+) bpp, 1:([\d.]+), PSNR ([\d.]+) dB, "
                     r"SSIM ([\d.]+), 64 x 64 L, ([\d.]+) s", line)
    assert m, line
    data = (work / "v.ipc").read_bytes()
    assert int(m[1]) == len(data)
    assert float(m[2]) == pytest.approx(8 * len(data) / SIZE**2, abs=1e-4)
    assert float(m[3]) == pytest.approx(SIZE**2 / len(data), abs=0.05)
    decoded = decode.decode(data).astype(float)
    mse = np.mean((decoded - grey_array()) ** 2)
    assert float(m[4]) == pytest.approx(10 * np.log10(255**2 / mse), abs=0.005)
    expected_ssim = structural_similarity(grey_array(), decode.decode(data), data_range=255)
    assert float(m[5]) == pytest.approx(expected_ssim, abs=5e-5)
    assert float(m[6]) > 0


def test_decode_at_a_reduced_scale(work, encoded):
    full = Image.fromarray(decode.decode(encoded.read_bytes()))
    for scale, factor in (("1/2", 2), ("1/8", 8)):
        result = run("decode", "grey.ipc", "small.png", "--scale", scale, cwd=work)
        assert result.returncode == 0, result.stderr
        with Image.open(work / "small.png") as im:
            assert im.size == (SIZE // factor, SIZE // factor)
            reduced = np.asarray(full.reduce(factor)).astype(int)
            assert np.abs(np.asarray(im).astype(int) - reduced).mean() < 4
    result = run("decode", "grey.ipc", "small.png", "--scale", "1/3", cwd=work)
    assert result.returncode == 2


def test_exif_orientation_is_kept(work):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    Image.fromarray(grey_array()[:, :40], "L").save(work / "turned.png", exif=exif)
    result = run("encode", "turned.png", "turned.ipc", "--size", "400", "--effort", "0",
                 cwd=work)
    assert result.returncode == 0, result.stderr
    with Image.open(work / "turned.ipc") as im:
        assert im.size == (40, SIZE) and im.getexif()[0x0112] == 6
    result = run("info", "turned.ipc", cwd=work)
    assert "orientation 6" in result.stdout


def help_entries(text: str) -> dict[str, str]:
    """Option flag -> its help text, from argparse's --help output (usage left out)."""
    entries: dict[str, str] = {}
    flag = None
    for line in text.split("\n\n", 1)[1].splitlines():
        m = re.match(r"  (-[\w-]+)", line)
        if m:
            flag = m[1]
            entries[flag] = line
        elif flag and line.startswith("    "):
            entries[flag] += " " + line.strip()
        else:
            flag = None
    return entries


def test_help_shows_every_default_and_version(work):
    for command in ("encode", "decode"):
        result = run(command, "--help", cwd=work)
        assert result.returncode == 0
        entries = help_entries(result.stdout)
        takes_value = [f for f, t in entries.items() if re.match(r"\s*-[\w-]+(, --[\w-]+)? [A-Z{]", t)]
        assert len(takes_value) >= (12 if command == "encode" else 2), entries
        for flag in takes_value:
            assert "default" in entries[flag], entries[flag]
    result = run("--version", cwd=work)
    assert result.stdout.strip() == f"ipc {PIL_ipc.__version__}"


def test_library_log_lines_reach_stderr_unless_quiet(work):
    """The library logs (the first run's "compiling" line is INFO); the command line shows
    INFO and up on stderr, WARNING and up with --quiet."""
    script = (
        "import logging, sys\n"
        "from PIL_ipc.tools import cli, transcode\n"
        "real = transcode.encode\n"
        "def encode(im, options, **kwargs):\n"
        "    log = logging.getLogger('PIL_ipc.encode')\n"
        "    log.info('compiling the kernels, about 9 s')\n"
        "    log.debug('a detail')\n"
        "    return real(im, options, **kwargs)\n"
        "transcode.encode = encode\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    for quiet, expected in (([], "ipc: compiling the kernels, about 9 s\n"), (["--quiet"], "")):
        result = subprocess.run([sys.executable, "-c", script, "encode", "grey.png", "log.ipc",
                                 "--size", "400", "--effort", "0", *quiet], cwd=work,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        assert result.stderr == expected


def test_quality_and_psnr_targets(work):
    sizes = []
    for q in ("20", "90"):
        result = run("encode", "grey.png", f"q{q}.ipc", "-q", q, "--effort", "0", cwd=work)
        assert result.returncode == 0, result.stderr
        sizes.append((work / f"q{q}.ipc").stat().st_size)
    assert sizes[0] < sizes[1]
    result = run("encode", "grey.png", "p.ipc", "--psnr", "32", "--effort", "0", "-v", cwd=work)
    assert result.returncode == 0, result.stderr
    decoded = decode.decode((work / "p.ipc").read_bytes()).astype(float)
    psnr = 10 * np.log10(255**2 / np.mean((decoded - grey_array()) ** 2))
    assert psnr >= 32
    assert float(re.search(r"PSNR ([\d.]+) dB", result.stderr)[1]) == pytest.approx(psnr, abs=0.005)
    result = run("encode", "grey.png", "x.ipc", "-q", "50", "--bpp", "1", cwd=work)
    assert result.returncode == 2 and "not allowed with" in result.stderr


def test_xmp_and_icc_travel_with_the_image(work):
    from PIL import ImageCms

    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = np.stack([grey_array()] * 3, axis=-1)
    Image.fromarray(rgb, "RGB").save(work / "meta.jpg", xmp=xmp, icc_profile=srgb, quality=95)
    Image.fromarray(grey_array(), "L").save(work / "grey-srgb.png", icc_profile=srgb)
    result = run("encode", "meta.jpg", "meta.ipc", "--size", "900", "--effort", "0", cwd=work)
    assert result.returncode == 0, result.stderr
    with Image.open(work / "meta.ipc") as im:
        assert im.mode == "RGB" and im.info["xmp"] == xmp and im.info["icc_profile"] == srgb
    result = run("info", "meta.ipc", cwd=work)
    assert f"xmp:      {len(xmp)} bytes" in result.stdout
    # an RGB profile does not describe a grey image: it is not copied
    result = run("encode", "grey-srgb.png", "g.ipc", "--size", "600", "--effort", "0", cwd=work)
    assert result.returncode == 0, result.stderr
    with Image.open(work / "g.ipc") as im:
        assert "icc_profile" not in im.info
