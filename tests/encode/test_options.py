"""The option table is the one source of every encoder option: EncodeOptions, the layout, the
command line's flags and the plugin's reading of recorded settings all come from it."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys

import numpy as np
from PIL import Image

import PIL_ipc  # noqa: F401  (registers the plugin)
from PIL_ipc.encode import options
from PIL_ipc.encode.planner import Layout
from PIL_ipc.tools import cli


def _image() -> Image.Image:
    ramp = np.add.outer(np.arange(40.0), np.arange(48.0)) * 2.5
    ramp[10:30, 12:36] += 60
    return Image.fromarray(np.clip(ramp, 0, 255).astype(np.uint8))


def test_encode_options_has_one_field_per_row_in_the_tables_order():
    assert [f.name for f in dataclasses.fields(options.EncodeOptions)] == \
        [o.name for o in options.OPTIONS]
    assert {f.name: f.default for f in dataclasses.fields(options.EncodeOptions)} == \
        {o.name: o.default for o in options.OPTIONS}


def test_the_layout_has_the_tables_layout_fields_and_the_search_its_choices():
    assert [f.name for f in dataclasses.fields(Layout)] == \
        [o.name for o in options.OPTIONS if o.layout]
    for o in options.OPTIONS:
        if o.choices is not None:
            assert o.layout and all(o.check(v) == v for v in o.choices), o.name
            if o.fixed is not None:
                assert o.fixed in o.choices, o.name


def test_every_option_has_a_flag_that_reaches_the_encoder():
    parser, subs = cli._parser()
    flags = {a.dest: a for a in subs["encode"]._actions}
    for o in options.OPTIONS:
        assert o.name in flags and o.flag in flags[o.name].option_strings, o.name
        assert o.help.split()[0] in (flags[o.name].help or ""), o.name
    args = parser.parse_args(["encode", "a.png", "b.ipc", "--size", "2000", "--spacing", "3",
                              "--no-thin", "--edge-source", "luma"])
    given = cli._encoder_options(args, parser)
    assert given == {"size": 2000, "spacing": 3, "thin": False, "edge_source": "luma"}


def test_the_plugin_reads_back_every_recorded_setting_as_its_type():
    buf = io.BytesIO()
    _image().save(buf, "IPC", threshold=20, lattice=6, edge_seeds=12, iterations=10)
    with Image.open(buf) as im:
        recorded = {k: im.info[k] for k in options.RECORDED if k in im.info}
    assert set(recorded) == set(options.RECORDED)
    for name, value in recorded.items():
        assert isinstance(value, options.RECORDED[name].kind), name
    assert recorded["threshold"] == 20.0 and recorded["lattice"] == 6
    assert recorded["edge_seeds"] == 12.0 and recorded["iterations"] == 10


def test_a_whole_number_float_of_an_integer_option_saves_as_the_integer():
    a, b = io.BytesIO(), io.BytesIO()
    _image().save(a, "IPC", size=400, effort=0)
    _image().save(b, "IPC", size=400.0, effort=0.0)
    assert a.getvalue() == b.getvalue()


def test_the_table_imports_no_numba():
    code = ("import sys; import PIL_ipc.encode.options; "
            "print('numba' in sys.modules, 'PIL_ipc.encode.pipeline' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]
