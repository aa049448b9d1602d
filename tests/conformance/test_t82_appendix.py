"""Spec appendix B (decoding a T.82 plane): its check, the corpus planes decoded by the
appendix's pseudo-code (tests/conformance/spec_t82.py), JBIG-KIT and PIL_ipc alike, the t82-* files
covering what the appendix describes and telling apart the readings it rules out, and every
corpus plane keeping to the appendix's rules for writers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import spec_t82
from ipc_chunks import split
from jbigkit import jbgtopbm, missing_tools, pbmtojbg

from PIL_ipc import decode
from PIL_ipc.format import jbig

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent / "corpus"
MANIFEST = json.loads((CORPUS / "MANIFEST.json").read_text())
T82 = sorted(n for n in MANIFEST if n.startswith("t82-"))
SMALL = sorted(n for n in MANIFEST if MANIFEST[n]["width"] * MANIFEST[n]["height"] <= 96 * 96)
PLANES = (b"EDGE", b"SEED", b"ALPH")

pytestmark = pytest.mark.skipif(bool(missing_tools()), reason="JBIG-KIT tools not installed")


def appendix_b() -> str:
    text = (HERE.parents[1] / "spec" / "FORMAT.md").read_text()
    return text[text.index("## Appendix B"):]


def planes(name: str) -> dict[bytes, bytes]:
    """The BIEs of a corpus file by chunk type (bi-level ALPH only, without its coding byte)."""
    out = {}
    for ctype, body in split((CORPUS / f"{name}.ipc").read_bytes()):
        if ctype in (b"EDGE", b"SEED"):
            out[ctype] = body
        elif ctype == b"ALPH" and body[:1] == b"\x00":
            out[ctype] = body[1:]
    return out


def test_spec_check():
    """The 12 x 6 plane of appendix B's check, its two BIEs and their SLNTP decisions, by the
    appendix's pseudo-code, PIL_ipc and JBIG-KIT; pbmtojbg writes exactly these BIEs."""
    check = appendix_b()[appendix_b().index("**Check.**"):]
    blocks = check.split("```")[1::2]
    plane = np.array([[int(v) for v in row.split()] for row in blocks[0].strip().splitlines()],
                     bool)
    assert plane.shape == (6, 12)
    bies = [bytes.fromhex(b) for b in blocks[1:3]]
    decisions = re.findall(r"SLNTP\s+decisions are\s+([01 ]+?) and ([01 ]+?)[:.]", check)
    assert len(decisions) == 2
    for bie, closer, halves in zip(bies, (0x02, 0x03), decisions, strict=True):
        assert len(bie) == 30 and bie[-2:] == bytes([0xFF, closer])
        slntp: list[int] = []
        assert np.array_equal(spec_t82.decode(bie, slntp=slntp), plane)
        assert slntp == [int(v) for v in " ".join(halves).split()]
        assert np.array_equal(jbig.decode(bie), plane)
        assert np.array_equal(jbgtopbm(bie), plane)
    options = ("-q", "-s", "3", "-p", "8", "-o", "0", "-m", "0")
    assert pbmtojbg(plane, *options) == bies[0]
    assert pbmtojbg(plane, *options, "-r") == bies[1]


@pytest.mark.parametrize("name", sorted(set(T82) | set(SMALL)))
def test_corpus_planes_decode_alike(name):
    """Every plane of the t82-* files and of the small corpus files: appendix B's pseudo-code,
    JBIG-KIT's jbgtopbm and PIL_ipc's decoder give the same pixels."""
    for bie in planes(name).values():
        expected = jbgtopbm(bie)
        assert np.array_equal(spec_t82.decode(bie), expected)
        assert np.array_equal(jbig.decode(bie), expected)


def layouts() -> list[tuple[str, bytes, spec_t82.Layout]]:
    return [(n, t, spec_t82.layout(b)) for n in T82 for t, b in planes(n).items()]


def test_t82_files_cover_appendix_b():
    """What the issue asked the corpus to exercise, each in some plane of a t82-* file."""
    found = layouts()

    def some(what) -> bool:
        return any(what(n, t, lay) for n, t, lay in found)

    closers = [{c for _, c in lay.stripes} for _, _, lay in found]
    assert {spec_t82.SDNORM} in closers and {spec_t82.SDRST} in closers
    assert some(lambda n, t, lay: len(lay.stripes) > 1 and lay.options & spec_t82.TPBON)
    assert some(lambda n, t, lay: len(lay.stripes) > 1 and not lay.options & spec_t82.TPBON)
    assert some(lambda n, t, lay: len(lay.stripes) > 1 and lay.options & spec_t82.LRLTWO)
    assert some(lambda n, t, lay: lay.options & spec_t82.LRLTWO
                and {c for _, c in lay.stripes} == {spec_t82.SDRST})
    # a stripe whose last line differs from the stripe length (L0 does not divide H)
    assert some(lambda n, t, lay: lay.height % lay.l0 == 1 and len(lay.stripes) > 1)
    # ATMOVE with tau_y = 0 at a later line of a later stripe, after one in an earlier stripe
    moves = [(s, yat, tx, ty) for _, _, lay in found for s, yat, tx, ty in lay.atmoves]
    assert all(ty == 0 for *_, ty in moves)
    assert any(s >= 1 and yat > 0 for s, yat, _, _ in moves)
    assert len({tx for _, _, tx, _ in moves}) >= 2
    assert some(lambda n, t, lay: lay.comments)
    # NEWLEN after the last stripe and before it, each from a YD above the height
    assert some(lambda n, t, lay: lay.yd > lay.height
                and any(k == lay.needed() for k, _ in lay.newlens))
    assert some(lambda n, t, lay: lay.yd > lay.height
                and any(k < lay.needed() for k, _ in lay.newlens))
    assert {t for _, t, _ in found} == set(PLANES)


@pytest.mark.parametrize("misread", spec_t82.MISREADINGS)
def test_corpus_tells_misreadings_apart(misread):
    """Each reading appendix B rules out decodes some t82-* plane differently from JBIG-KIT,
    while the appendix's reading decodes them all alike (test_corpus_planes_decode_alike)."""
    wrong = [(n, t) for n, t, _ in layouts()
             if not np.array_equal(spec_t82.decode(planes(n)[t], misread),
                                   jbgtopbm(planes(n)[t]))]
    assert wrong, f"no t82-* plane shows that {misread} is wrong"


@pytest.mark.parametrize("name", T82)
def test_t82_file_decodes_as_its_source(name):
    """Coding the planes again changes nothing: PIL_ipc decodes the file to the image of the
    file it was made from (and the alpha plane screen_alpha drew, for one made LA)."""
    data = (CORPUS / f"{name}.ipc").read_bytes()
    source = (CORPUS / f"{MANIFEST[name]['from']}.ipc").read_bytes()
    out = decode.decode(data)
    expected = decode.decode(source)
    if MANIFEST[name]["mode"] == "LA" and expected.ndim == 2:
        alpha = jbgtopbm(planes(name)[b"ALPH"])
        assert np.array_equal(out[..., 1], np.where(alpha, 255, 0))
        out = out[..., 0]
    assert np.array_equal(out, expected)


def writer_faults(lay: spec_t82.Layout, bie: bytes) -> list[str]:
    """What appendix B's "Writers" paragraph rules out that a BIE does."""
    faults = []
    if bie[:3] != b"\x00\x00\x01":
        faults.append("DL, D, P")
    tmin = 5 if lay.options & spec_t82.LRLTWO else 3
    for s, _yat, tx, ty in lay.atmoves:
        if ty != 0 or not (tx == 0 or tmin <= tx <= lay.mx):
            faults.append(f"ATMOVE ({tx}, {ty}) before stripe {s}")
    per_stripe = [s for s, *_ in lay.atmoves]
    if any(per_stripe.count(s) > 64 for s in set(per_stripe)):
        faults.append("more than 64 ATMOVEs before a stripe")
    if len(lay.newlens) > 1:
        faults.append("several NEWLENs")
    closers = [c for _, c in lay.stripes]
    pairs = zip(closers[:-1], closers[1:], strict=True)
    if lay.l0 == 1 and not lay.options & spec_t82.LRLTWO and any(
            a == spec_t82.SDRST and b == spec_t82.SDNORM for a, b in pairs):
        faults.append("SDNORM after SDRST with L0 = 1 and the three-line template")
    return faults


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_corpus_planes_keep_the_writer_rules(name):
    """Every plane in the corpus, written by PIL_ipc's encoder or by JBIG-KIT, uses only what
    appendix B lets a writer of .ipc files use."""
    for ctype, bie in planes(name).items():
        assert writer_faults(spec_t82.layout(bie), bie) == [], (name, ctype)


def test_writer_rules_can_fail():
    """The rules of the test above do catch a BIE that breaks them (an ATMOVE with tau_y > 0,
    a second NEWLEN)."""
    bie = bytes.fromhex("000001000000000c0000000c00000003" "08010020") + bytes.fromhex(
        "ff06000000000201" "ff050000000c" "ff0500000006") + bytes.fromhex(
        "6936ff02" "56c8d830ff02")
    lay = spec_t82.layout(bie)
    assert len(writer_faults(lay, bie)) == 2
