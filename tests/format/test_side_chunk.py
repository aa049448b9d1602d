"""Edge-pixel sides (SIDE chunk, spec section 8.1): eligible pixels, their coding and values,
against the plain transcription of the spec in tests/conformance/reference_decoder.py; the
chunk's place in the file and what a decoder does with a broken one."""

from __future__ import annotations

import dataclasses
import struct

import numpy as np
import pytest
from reference_decoder import side_choices

from PIL_ipc import decode
from PIL_ipc.format import container, reader, sides, sources


def masks(seed: int, shape=(23, 31)):
    """Random edge plane with its band, and stored pixels (some on edges and on the band)."""
    rng = np.random.default_rng(seed)
    edges = rng.random(shape) < 0.15
    band = sources.locate(edges, 3).band
    known = (rng.random(shape) < 0.08) | (band & (rng.random(shape) < 0.2))
    return edges, known, band


@pytest.mark.parametrize("seed", range(4))
def test_choices_code_and_decode_as_the_spec_says(seed):
    """Eligible pixels, candidates and decisions agree with the spec's transcription, which
    decodes the payload with its own QM decoder."""
    edges, known, band = masks(seed)
    positions, candidates = sides.eligible(edges, known, band)
    assert len(positions)
    rng = np.random.default_rng(100 + seed)
    # runs of one choice along rows, as sides are: the contexts matter
    choices = np.repeat(rng.integers(0, 3, len(positions) // 4 + 1), 4)[:len(positions)]
    payload = sides.encode(choices, positions, edges.shape)
    body = struct.pack(">I", len(positions)) + payload
    ref = side_choices(body, edges, known, band)
    w = edges.shape[1]
    assert [y * w + x for y, x in ref] == positions.tolist()
    for i, (choice, cands) in enumerate(ref.values()):
        assert choice == choices[i]
        assert [q for q in candidates[i] if q >= 0] == [yy * w + xx for yy, xx in cands]
    assert np.array_equal(sides.decode(payload, positions, edges.shape), choices)


def test_a_cut_payload_still_decodes_and_an_empty_list_needs_none():
    edges, known, band = masks(7)
    positions, _ = sides.eligible(edges, known, band)
    choices = np.full(len(positions), sides.LOW, np.uint8)
    payload = sides.encode(choices, positions, edges.shape)
    got = sides.decode(payload[: len(payload) // 2], positions, edges.shape)
    assert got.shape == choices.shape and got.max() <= sides.LOW
    assert sides.decode(b"", np.zeros(0, np.int64), edges.shape).shape == (0,)
    with pytest.raises(ValueError, match="positions"):
        sides.decode(payload, positions[::-1].copy(), edges.shape)


def test_high_and_low_take_the_brightest_and_darkest_candidate():
    u = np.array([5.0, 9.0, 1.0, 7.0, 0.0, 0.0, 0.0])
    positions = np.array([4, 5, 6])
    candidates = np.array([[0, 1, 2, 3], [-1, 1, -1, 3], [0, -1, 2, -1]])
    sides.derive(u, positions, candidates, np.array([sides.HIGH, sides.LOW, sides.MEAN],
                                                    np.uint8))
    assert u.tolist() == [5.0, 9.0, 1.0, 7.0, 9.0, 7.0, 0.0]


# --- the chunk in a file ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sided(corpus):
    """A grey file whose budget search chose edge sides (the golden corpus's) and its
    source image (benchmarks/synthetic.py)."""
    import importlib.util

    path = corpus.parents[1] / "benchmarks" / "synthetic.py"
    spec = importlib.util.spec_from_file_location("synthetic", path)
    synthetic = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(synthetic)
    return synthetic.make("gradients", size=128), (corpus / "sides-gradients.ipc").read_bytes()


def test_a_file_with_sides_is_version_5_and_orders_its_chunks(sided):
    _, data = sided
    f = reader.parse(data)
    assert f.header.version == container.SIDE_VERSION
    types = [c.type for c in reader.chunk_table(data)]
    assert types.index("SIDE") == types.index("VALS") + 1
    assert container.build(f) == data


@pytest.mark.parametrize("change, message", [
    (dict(version=4), "SIDE chunk at offset"),
    (dict(version=3), "SIDE chunk at offset"),
])
def test_a_side_chunk_needs_version_5(sided, change, message):
    _, data = sided
    f = reader.parse(data)
    bad = _raw_rebuild(data, version=change["version"])
    with pytest.raises(container.FormatError, match=message):
        reader.parse(bad)
    with pytest.raises(ValueError, match="SIDE chunk needs"):
        container.build(dataclasses.replace(
            f, header=dataclasses.replace(f.header, version=change["version"])))


def _raw_rebuild(data: bytes, version: int) -> bytes:
    """The file with its IHDR version byte replaced (CRC made again)."""
    import zlib

    body = bytearray(data[16:32])
    body[0] = version
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(body)))
    return data[:16] + bytes(body) + crc + data[36:]


def test_side_chunk_order_rules(sided):
    from ipc_chunks import join, split

    _, data = sided
    chunks = split(data)
    names = [c[0] for c in chunks]
    side = chunks[names.index(b"SIDE")]
    without = [c for c in chunks if c[0] != b"SIDE"]
    at = [c[0] for c in without].index(b"VALS")
    before_vals = without[:at] + [side] + without[at:]
    with pytest.raises(container.FormatError, match="SIDE chunk at offset .* before VALS"):
        reader.parse(join(before_vals))
    twice = without[:at + 1] + [side, side] + without[at + 1:]
    with pytest.raises(container.FormatError, match="duplicate SIDE"):
        reader.parse(join(twice))


def test_a_count_that_differs_from_the_eligible_pixels(sided):
    """An error; lenient decoding leaves the sides out (every edge pixel keeps the mean)."""
    img, data = sided
    f = reader.parse(data)
    wrong = dataclasses.replace(f, sides=container.Sides(f.sides.count + 1, f.sides.payload))
    bad = container.build(wrong)
    with pytest.raises(container.FormatError, match="SIDE declares"):
        decode.decode(bad)
    plain = container.build(dataclasses.replace(f, sides=None))
    assert np.array_equal(decode.decode(bad, lenient=True), decode.decode(plain))


def test_sides_change_only_edge_pixels_near_them_and_decode_better(sided):
    img, data = sided
    f = reader.parse(data)
    plain = decode.decode(container.build(dataclasses.replace(f, sides=None)))
    with_sides = decode.decode(data)

    def mse(a):
        return float(np.mean((a.astype(float) - img) ** 2))

    assert mse(with_sides) < mse(plain)
    # the stored pixels are the same either way
    known = sources.locate(decode._decode_plane("edge", f.edge, f.header, False),
                           f.header.spacing, None, f.header.lattice).known_mask()
    assert np.array_equal(with_sides[known], plain[known])
