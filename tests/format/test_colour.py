"""Colour and alpha: the YCbCr transform, chroma sampling, CVAL and ALPH chunks, and one
inpainting operator for all channels (the alpha coder: test_alpha.py)."""

import numpy as np
import pytest
from PIL import Image, ImageFilter

from PIL_ipc.format import alpha, colour, container, jbig, reader, sources, values
from PIL_ipc import decode, encode
from PIL_ipc.solver import inpaint


def test_ycbcr_matches_pillow():
    """Our forward transform is JFIF's: Pillow's RGB -> YCbCr (rounded) agrees within 1."""
    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    ours = np.floor(colour.to_ycbcr(rgb) + 0.5)
    pillow = np.asarray(Image.fromarray(rgb).convert("YCbCr"), dtype=float).transpose(2, 0, 1)
    assert np.abs(ours - pillow).max() <= 1


def test_inverse_transform_round_trips():
    rgb = np.random.default_rng(1).integers(0, 256, (8, 9, 3), dtype=np.uint8)
    assert np.array_equal(colour.rounded_rgb(colour.to_ycbcr(rgb)), rgb)


def test_rounded_rgb_error_is_the_squared_error_of_the_decoded_pixels():
    """The rate control's fused measurement equals the error of the decoder's pixels, computed
    here from an independent inverse transform (including values out of range and NaN)."""
    rng = np.random.default_rng(3)
    ycc = rng.uniform(-40, 300, (3, 9, 11))
    ycc[1, 2, 3] = np.nan
    rgb = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    real = np.nan_to_num(colour.to_rgb(ycc), nan=0.0)
    decoded = np.clip(np.floor(real + 0.5), 0, 255)
    expected = float(np.sum((decoded - rgb) ** 2))
    assert colour.rounded_rgb_error(ycc, rgb) == expected
    assert colour.rounded_rgb_error(ycc, colour.rounded_rgb(ycc)) == 0.0
    with pytest.raises(ValueError):
        colour.rounded_rgb_error(ycc, rgb[:, :5])


def test_chroma_predictors_map_to_earlier_values():
    pred = np.array([[-1, -1, -1], [0, -1, -1], [1, -1, -1], [2, -1, -1], [0, 1, 2],
                     [4, -1, -1], [3, 4, 1]])
    c = colour.chroma_predictors(pred, 2)
    assert c.tolist() == [[-1, -1, -1], [0, -1, -1], [0, 0, 1], [1, 2, 0]]
    assert colour.chroma_count(7, 2) == 4
    assert colour.chroma_index(7, 3).tolist() == [0, 0, 0, 1, 1, 1, 2]
    stacked = colour.stacked_predictors(c, 2)
    assert stacked[4:].tolist() == [[-1, -1, -1], [4, -1, -1], [4, 4, 5], [5, 6, 4]]
    assert all(r[0] < i for i, r in enumerate(stacked) if r[0] >= 0)


def rgba_image(h=24, w=32):
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([np.where(x < w // 2, 220, 30), 40 + 5 * y, np.where(y < h // 2, 60, 200)],
                   axis=2)
    a = np.where((y - h / 2) ** 2 + (x - w / 2) ** 2 < (h / 3) ** 2, 255, 0)
    return np.dstack([rgb, a]).astype(np.uint8)


def test_rgba_file_has_its_chunks_in_order():
    data = encode.encode(rgba_image(), encode.EncodeOptions(threshold=16, lattice=4))
    f = reader.parse(data)
    assert (f.header.version, f.header.mode) == (4, "RGBA")
    assert f.chroma is not None and f.alpha.coding == alpha.BILEVEL
    types = [c.type for c in reader.chunk_table(data) if c.type != "SEED"]
    assert types[-5:] == ["EDGE", "VALS", "CVAL", "ALPH", "IEND"]


def test_grey_files_stay_version_3():
    data = encode.encode(rgba_image()[..., 0], encode.EncodeOptions(threshold=16))
    assert reader.parse(data).header.version == 3


def test_missing_or_misplaced_colour_chunks_are_refused():
    data = encode.encode(rgba_image(), encode.EncodeOptions(threshold=16, lattice=4))
    f = reader.parse(data)
    for field, message in (("chroma", "missing CVAL"), ("alpha", "missing ALPH")):
        g = reader.parse(data)
        setattr(g, field, None)
        g.header.mode = "RGBA"
        with pytest.raises(ValueError):
            container.build(g)  # the writer refuses it too
        # written by hand: drop the chunk
        table = reader.chunk_table(data)
        c = next(c for c in table if c.type == ("CVAL" if field == "chroma" else "ALPH"))
        cut = data[:c.offset] + data[c.offset + 12 + c.length:]
        with pytest.raises(container.FormatError, match=message):
            reader.parse(cut)
    # a grey file with a CVAL chunk
    grey = encode.encode(rgba_image()[..., 0], encode.EncodeOptions(threshold=16))
    cval = data[[c for c in reader.chunk_table(data) if c.type == "CVAL"][0].offset:]
    cval = cval[:12 + int.from_bytes(cval[:4], "big")]
    iend = grey.rindex(b"\0\0\0\0IEND")
    with pytest.raises(container.FormatError, match="CVAL chunk at offset .* in a L image"):
        reader.parse(grey[:iend] + cval + grey[iend:])
    assert f.alpha is not None


def test_cval_count_must_match_the_planes():
    data = encode.encode(rgba_image()[..., :3], encode.EncodeOptions(threshold=16, lattice=4))
    f = reader.parse(data)
    f.chroma.count += 1
    with pytest.raises(decode.DecodeError, match="CVAL declares"):
        decode.decode(container.build(f))


def test_truncated_colour_file_decodes_leniently():
    data = encode.encode(rgba_image(), encode.EncodeOptions(threshold=16, lattice=4))
    table = reader.chunk_table(data)
    cval = next(c for c in table if c.type == "CVAL")
    out = decode.decode(data[:cval.offset + 10], lenient=True)
    assert out.shape == (24, 32, 4)
    assert (out[..., 3] == 255).all()  # alpha not reached: opaque
    with pytest.raises(container.FormatError):
        decode.decode(data[:cval.offset + 10])


def test_one_operator_for_all_channels(monkeypatch):
    """The decoder sets the solver up once per file and solves each channel with it."""
    built = []
    real = inpaint.Inpainter

    class Counting(real):
        def __init__(self, *a, **k):
            built.append(1)
            super().__init__(*a, **k)

    monkeypatch.setattr(inpaint, "Inpainter", Counting)
    data = encode.encode(rgba_image()[..., :3], encode.EncodeOptions(threshold=16, lattice=4))
    built.clear()
    decode.decode(data)
    assert len(built) == 1


def test_hidden_colour_dropped_unless_exact():
    img = rgba_image()
    img[..., 0][img[..., 3] == 0] = np.random.default_rng(3).integers(
        0, 256, int((img[..., 3] == 0).sum()))
    dropped = encode.encode(img, encode.EncodeOptions(threshold=16, lattice=4))
    exact = encode.encode(img, encode.EncodeOptions(threshold=16, lattice=4, exact=True))
    assert len(dropped) < len(exact)
    hidden = img[..., 3] == 0
    err = [np.abs(decode.decode(d)[..., 0].astype(int) - img[..., 0])[hidden].mean()
           for d in (dropped, exact)]
    assert err[1] < err[0]
    for d in (dropped, exact):
        assert np.array_equal(decode.decode(d)[..., 3], img[..., 3])


def test_colour_rate_control_meets_the_budget():
    rng = np.random.default_rng(4)
    img = np.asarray(Image.fromarray(rgba_image(48, 64)[..., :3]).filter(
        ImageFilter.GaussianBlur(1)))
    img = np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
    data = encode.encode(img, encode.EncodeOptions(bpp=0.6, effort=0))
    assert len(data) <= 0.6 * 48 * 64 / 8
    out = decode.decode(data)
    psnr = 10 * np.log10(255 ** 2 / np.mean((out.astype(float) - img) ** 2))
    assert psnr > 22


def test_ycbcr_values_are_coded_like_grey_ones():
    """The CVAL payload is the value coding of section 7 over the stacked chroma lists."""
    data = encode.encode(rgba_image()[..., :3], encode.EncodeOptions(
        threshold=16, lattice=4, chroma_levels=12, chroma_stride=2))
    f = reader.parse(data)
    pts = sources.locate(jbig.decode(f.edge), f.header.spacing, None, f.header.lattice)
    pred = colour.stacked_predictors(colour.chroma_predictors(pts.predictors, 2), 2)
    k = values.decode(f.chroma.payload, pred, 12, coding=f.chroma.coding)
    assert k.size == 2 * colour.chroma_count(pts.count, 2) == 2 * f.chroma.count
    assert values.encode(k, pred, 12, f.chroma.coding) == f.chroma.payload
    assert (f.chroma.levels, f.chroma.stride) == (12, 2)
