"""Decoder: consistency checks between chunks, limits, and hostile input."""

import dataclasses

import numpy as np
import pytest

from PIL_ipc.format import container, jbig, reader, sources, values
from PIL_ipc import decode, encode


@pytest.fixture(scope="module")
def sample():
    y, x = np.mgrid[0:40, 0:48]
    img = np.where(x + y > 40, 200, 50).astype(np.uint8)
    return img, encode.encode(img, encode.EncodeOptions(threshold=20, min_length=0))


def rebuild(data, **changes):
    f = reader.parse(data)
    return container.build(dataclasses.replace(f, **changes))


def test_decodes(sample):
    img, data = sample
    out = decode.decode(data)
    assert out.shape == img.shape and np.abs(out.astype(int) - img).mean() < 10


def test_edge_plane_of_wrong_size(sample):
    _, data = sample
    bad = rebuild(data, edge=jbig.encode(np.zeros((40, 47), bool)))
    with pytest.raises(container.FormatError, match="edge plane is 47x40"):
        decode.decode(bad)


def test_value_count_mismatch(sample):
    _, data = sample
    f = reader.parse(data)
    with pytest.raises(container.FormatError, match="VALS declares"):
        decode.decode(rebuild(data, values_count=f.values_count + 1))


def test_pixel_limit(sample):
    _, data = sample
    with pytest.raises(container.FormatError, match="exceeds the limit"):
        decode.decode(data, max_pixels=40 * 48 - 1)
    assert decode.decode(data, max_pixels=40 * 48).shape == (40, 48)


def test_no_stored_pixels_is_an_error():
    empty = jbig.encode(np.zeros((5, 5), bool))
    f = container.IpcFile(header=container.Header(width=5, height=5, levels=64, spacing=4),
                          edge=empty, seed=None, values_count=0, values_coding=0,
                          values_payload=b"")
    with pytest.raises(container.FormatError, match="no stored pixels"):
        decode.decode(container.build(f))
    assert (decode.decode(container.build(f), lenient=True) == 128).all()


def test_truncated_file(sample):
    _, data = sample
    cut = data[:-30]
    with pytest.raises(container.FormatError):
        decode.decode(cut)
    assert decode.decode(cut, lenient=True).shape == (40, 48)


def test_corrupted_files_end_in_image_or_value_error(sample):
    _, data = sample
    rng = np.random.default_rng(7)
    outcomes = set()
    for _ in range(150):
        b = bytearray(data)
        for _ in range(int(rng.integers(1, 4))):
            b[int(rng.integers(8, len(b)))] = int(rng.integers(0, 256))
        for lenient in (False, True):
            try:
                out = decode.decode(bytes(b), lenient=lenient)
                assert out.shape == (40, 48) and out.dtype == np.uint8
                outcomes.add("image")
            except ValueError:
                outcomes.add("error")
    assert outcomes == {"image", "error"}


def test_corrupted_payloads_with_valid_crcs(sample):
    """Damage inside chunks, re-framed with correct CRCs: the codec layers must catch it."""
    _, data = sample
    f = reader.parse(data)
    rng = np.random.default_rng(8)
    for _ in range(60):
        edge = bytearray(f.edge)
        vals = bytearray(f.values_payload)
        edge[int(rng.integers(0, len(edge)))] ^= 1 << int(rng.integers(0, 8))
        if vals:
            vals[int(rng.integers(0, len(vals)))] ^= 0xFF
        try:
            out = decode.decode(rebuild(data, edge=bytes(edge), values_payload=bytes(vals)))
            assert out.shape == (40, 48)
        except ValueError:
            pass


def test_lattice_in_the_header_changes_the_value_count(sample):
    """The header's lattice step is part of the source points (spec section 6): the same
    planes with another lattice give another count, which VALS must match."""
    _, data = sample
    f = reader.parse(data)
    with pytest.raises(container.FormatError, match="VALS declares"):
        decode.decode(rebuild(data, header=dataclasses.replace(f.header, lattice=5)))
    # a lattice too large to hold a pixel of this image changes nothing
    out = decode.decode(rebuild(data, header=dataclasses.replace(f.header, lattice=100)))
    assert np.array_equal(out, decode.decode(data))
    # versions 1 (no lattice field) and 2 decode the same planes and values alike, the
    # values in coding 0 (version 3 codes them in coding 1)
    pts = sources.locate(jbig.decode(f.edge), f.header.spacing, None, f.header.lattice)
    k = values.decode(f.values_payload, pts.predictors, f.header.levels, f.values_coding)
    plain = values.encode(k, pts.predictors, f.header.levels, values.CODING_PLAIN)
    assert f.values_coding == values.CODING_BOUNDED and len(plain) >= len(f.values_payload)
    for version in (1, 2):
        old = rebuild(data, header=dataclasses.replace(f.header, version=version),
                      values_coding=values.CODING_PLAIN, values_payload=plain)
        assert reader.parse(old).header.version == version
        assert np.array_equal(decode.decode(old), decode.decode(data))
    v1 = rebuild(data, header=dataclasses.replace(f.header, version=1),
                 values_coding=values.CODING_PLAIN, values_payload=plain)
    assert v1[8:16] == b"\x00\x00\x00\x0eIHDR"
    assert len(v1) == len(data) - 2 + len(plain) - len(f.values_payload)


def test_lattice_of_step_one_and_wrong_steps():
    """A step of 1 stores every pixel; another step in the header breaks the count."""
    img = np.random.default_rng(3).integers(0, 256, (9, 11), dtype=np.uint8)
    data = encode.encode(img, encode.EncodeOptions(threshold=30, lattice=1, levels=256,
                                                     tonal=0))
    assert reader.parse(data).header.lattice == 1
    assert np.array_equal(decode.decode(data), img)  # 256 levels, stored pixel values
    for g in (2, 65535):
        f = reader.parse(data)
        with pytest.raises(container.FormatError, match="VALS declares"):
            decode.decode(rebuild(data, header=dataclasses.replace(f.header, lattice=g)))
        assert decode.decode(rebuild(data, header=dataclasses.replace(f.header, lattice=g)),
                              lenient=True).shape == (9, 11)


def test_one_file_decoded_in_eight_threads_at_once_gives_identical_pixels(corpus):
    """No state is shared between decodes: eight threads decoding the same file at once
    (the kernels release the GIL, so they run interleaved) all get the single-thread pixels."""
    from concurrent.futures import ThreadPoolExecutor

    data = (corpus / "photo-g6.ipc").read_bytes()
    expected = decode.decode(data)
    with ThreadPoolExecutor(8) as pool:
        outs = list(pool.map(lambda _: decode.decode(data), range(8)))
    for out in outs:
        assert np.array_equal(out, expected)


def test_solver_memory_outlives_the_thread_that_decoded(corpus, monkeypatch):
    """A decode hands its solver memory back for the next decode of the same size, whichever
    thread runs it (a thread pool's threads come and go): a decode in a new thread builds on
    the memory an ended thread used, at most KEEP_SCRATCH memories are kept, and the pixels
    are the same."""
    import threading

    from PIL_ipc.solver import inpaint

    data = (corpus / "photo-g6.ipc").read_bytes()
    monkeypatch.setattr(decode, "_kept", [])
    made = []
    real = inpaint.Scratch.__init__
    monkeypatch.setattr(inpaint.Scratch, "__init__",
                        lambda self, shape: made.append(shape) or real(self, shape))
    expected = decode.decode(data)
    assert len(made) == 1 and len(decode._kept) == 1
    outs = []
    for _ in range(3):
        t = threading.Thread(target=lambda: outs.append(decode.decode(data)))
        t.start()
        t.join()
    assert len(made) == 1, "a new thread built fresh solver memory"
    assert all(np.array_equal(o, expected) for o in outs)
    # other sizes evict the least recently returned beyond KEEP_SCRATCH
    monkeypatch.setattr(decode, "KEEP_SCRATCH", 2)
    for w in (30, 31, 32):
        img = np.zeros((20, w), dtype=np.uint8)
        img[:, w // 2:] = 200
        decode.decode(encode.encode(img, encode.EncodeOptions(threshold=20, min_length=0)))
    assert [s.shape for s in decode._kept] == [(20, 31), (20, 32)]


def test_a_decode_takes_a_second_core_only_while_one_is_free(corpus, monkeypatch):
    """With every core busy decoding (here: the count of decodes solving says so), a decode
    builds its solver in one thread and solves chroma one channel after the other; alone it
    uses the second core; the pixels are the same, and the count returns to 0 after a
    failing decode too."""
    from PIL_ipc.solver import inpaint

    data = (corpus / "rgb-photo.ipc").read_bytes()
    monkeypatch.setattr(decode, "CHANNEL_THREADS", 2)
    monkeypatch.setattr(decode, "OVERLAP_PIXELS", 0)
    monkeypatch.setattr(decode.os, "cpu_count", lambda: 2)
    seen = []
    real_init, real_fields = inpaint.Inpainter.__init__, inpaint.Inpainter.solve_fields

    def init(self, *a, overlap=False, **k):
        seen.append(("overlap", overlap))
        real_init(self, *a, overlap=overlap, **k)

    monkeypatch.setattr(inpaint.Inpainter, "__init__", init)
    monkeypatch.setattr(inpaint.Inpainter, "solve_fields",
                        lambda self, *a, **k: seen.append(("fields",)) or
                        real_fields(self, *a, **k))
    alone = decode.decode(data)
    assert seen == [("overlap", True), ("fields",)]
    seen.clear()
    monkeypatch.setattr(decode, "_solving", [1])  # another decode is solving
    busy = decode.decode(data)
    assert seen == [("overlap", False)]
    assert np.array_equal(alone, busy)
    assert decode._solving == [1]
    monkeypatch.setattr(decode, "_solving", [0])

    def fail(self, *a, **k):
        assert decode._solving == [1]
        raise MemoryError

    monkeypatch.setattr(inpaint.Inpainter, "solve_field", fail)
    with pytest.raises(MemoryError):
        decode.decode(data)
    assert decode._solving == [0]


def test_an_uncertified_solve_logs_and_still_decodes(sample, monkeypatch, caplog):
    """A tolerance the solver cannot certify within its cap: the decode ends, close to the
    certified decode, and says so in the log (no warning reaches the user)."""
    import logging
    import warnings

    from PIL_ipc.solver import inpaint

    _, data = sample
    certified = decode.decode(data)
    monkeypatch.setattr(inpaint, "MAX_FCG_ITER", 4)
    monkeypatch.setattr(decode, "DECODE_TOL", 1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level(logging.INFO, logger="PIL_ipc"):
            out = decode.decode(data)
    assert "solver cap reached" in caplog.text
    assert np.abs(out.astype(int) - certified).max() <= 3


def test_chroma_tolerances_keep_every_rgb_sample_within_the_colour_tolerance():
    """Whatever luma's certified error, the chroma tolerances the decoder derives from it keep
    every R, G, B sample within COLOUR_SAMPLE_TOL (< 0.5, spec section 9): checked with the
    JFIF inverse weights written out here, not the module's table."""
    weights = np.array([[1.0, 0.0, 1.402], [1.0, 0.344136, 0.714136], [1.0, 1.772, 0.0]])
    assert decode.COLOUR_SAMPLE_TOL < 0.5
    for e_y in np.linspace(0.0, decode.COLOUR_DECODE_TOL, 16):
        tol_cb, tol_cr = decode._chroma_tolerances(e_y)
        assert tol_cb >= 0.15 and tol_cr >= 0.15
        assert (weights @ [e_y, tol_cb, tol_cr]).max() <= decode.COLOUR_SAMPLE_TOL + 1e-12


def test_colour_decode_within_its_tolerance_of_the_direct_solution():
    """Each channel of a colour decode, real-valued, against scipy's direct solve of the same
    problem: every R, G, B sample within COLOUR_SAMPLE_TOL of the exact one, and the certified
    errors the decoder's tolerances promise (luma, then chroma from luma's error)."""
    from reference_decoder import chroma_lists, chunks, decode_values
    from reference_solver import reference_solve

    from PIL_ipc.format import colour

    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:48, 0:56]
    img = np.stack([np.where(x > y, 210, 40), 128 + 60 * np.sin(x / 7.0),
                    np.where((x - 28) ** 2 + (y - 24) ** 2 < 200, 30, 220)], axis=-1)
    img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    data = encode.encode(img, encode.EncodeOptions(threshold=16, lattice=4))
    f = reader.parse(data)
    h = f.header
    points = sources.locate(jbig.decode(f.edge), h.spacing, None, h.lattice)
    # the stored values of the three channels, as the reference decoder reads them
    rows = points.predictors.tolist()
    luma = np.array(decode_values(f.values_payload, rows, h.levels, f.values_coding))
    channel_values = [luma * 255.0 / (h.levels - 1)] + [
        np.array(v) for v in chroma_lists(chunks(data)[b"CVAL"], rows)]
    solved = decode.reconstruct_channels(points, channel_values, decode.COLOUR_DECODE_TOL,
                                          later_tol=decode._chroma_tolerances)
    known = points.known_mask()
    exact = []
    for v in channel_values:
        field = np.zeros(h.height * h.width)
        field[points.positions] = v
        exact.append(reference_solve(known, field.reshape(known.shape), points.band))
    err = [np.abs(u - e).max() for u, e in zip(solved, exact)]
    assert err[0] <= decode.COLOUR_DECODE_TOL
    tol_cb, tol_cr = decode._chroma_tolerances(err[0])
    assert err[1] <= max(tol_cb, decode._chroma_tolerances(decode.COLOUR_DECODE_TOL)[0])
    assert err[2] <= max(tol_cr, decode._chroma_tolerances(decode.COLOUR_DECODE_TOL)[1])
    rgb_err = np.abs(colour.to_rgb(np.stack(solved)) - colour.to_rgb(np.stack(exact)))
    assert rgb_err.max() <= decode.COLOUR_SAMPLE_TOL
    ref = np.clip(np.floor(colour.to_rgb(np.stack(exact)) + 0.5), 0, 255)
    assert np.abs(decode.decode(data).astype(int) - ref).max() <= 1


def test_large_colour_images_solve_chroma_in_one_thread(monkeypatch, corpus):
    """Above CHANNEL_THREAD_PIXELS a colour decode solves its chroma channels one after the
    other (no second set of solver vectors), with the same pixels as the threaded solve."""
    from PIL_ipc.solver import inpaint

    data = (corpus / "rgb-photo.ipc").read_bytes()
    monkeypatch.setattr(decode, "CHANNEL_THREADS", 2)
    threaded = decode.decode(data)
    calls = []
    real = inpaint.Inpainter.solve_fields
    monkeypatch.setattr(inpaint.Inpainter, "solve_fields",
                        lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    assert np.array_equal(decode.decode(data), threaded) and calls
    calls.clear()
    monkeypatch.setattr(decode, "CHANNEL_THREAD_PIXELS", 0)
    assert np.array_equal(decode.decode(data), threaded) and not calls
