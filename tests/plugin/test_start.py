"""Start-up: what a fresh process imports and which kernels it compiles or loads.

Each check runs in a fresh interpreter (``sys.modules`` and the kernels' signatures of this
process depend on the tests run before).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus"


def _fresh(code: str, *args: str) -> str:
    # (a fresh interpreter that imports this checkout's PIL_ipc: tests/conftest.py)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_open_reads_the_header_without_numba():
    out = _fresh("""
        import sys
        from PIL import Image
        import PIL_ipc
        with Image.open(sys.argv[1]) as im:
            print(im.size, im.mode, sorted(im.info))
        print("numba" in sys.modules, "PIL_ipc.decode" in sys.modules)
        """, str(CORPUS / "xmp-tiny.ipc"))
    header, loaded = out.strip().splitlines()
    assert header.startswith("(12, 8) L") and "'xmp'" in header
    assert loaded == "False False"


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["decode", "--help"],
                                  ["--quiet", "info", str(CORPUS / "tiny.ipc")]])
def test_command_line_starts_without_numba(argv):
    out = _fresh("""
        import contextlib, io, json, sys
        from PIL_ipc.tools import cli
        with contextlib.redirect_stdout(io.StringIO()) as text:
            try:
                status = cli.main(json.loads(sys.argv[1]))
            except SystemExit as e:
                status = e.code
        print(status, "numba" in sys.modules, len(text.getvalue()) > 0)
        """, json.dumps(argv))
    assert out.split() == ["0", "False", "True"]


def test_encode_help_shows_the_encoders_defaults():
    # the encoder's flags are still there for the commands that take them
    out = _fresh("""
        import contextlib, io
        from PIL_ipc.tools import cli
        with contextlib.redirect_stdout(io.StringIO()) as text:
            try:
                cli.main(["encode", "--help"])
            except SystemExit:
                pass
        print(text.getvalue())
        """)
    assert "--bpp B" in out and "--spacing D" in out and "default" in out


#: Prints, after the work given, every kernel of the package that this process compiled or
#: loaded from the cache, with its signatures.  Run twice: the second run, with the cache
#: warm, lists exactly the kernels the work calls from Python (a kernel compiled only because
#: another one calls it is linked into its caller's cached code, not loaded).
_SIGNATURES = """
    import gc, io, json, sys
    import numpy as np
    from PIL import Image
    import PIL_ipc
    from numba.core.registry import CPUDispatcher
    {work}
    kernels = {{f"{{k.py_func.__module__}}.{{k.py_func.__name__}}": [str(s) for s in k.signatures]
               for k in gc.get_objects() if isinstance(k, CPUDispatcher)
               and k.py_func.__module__.startswith("PIL_ipc") and k.signatures}}
    print(json.dumps(kernels))
    """


def _kernels_used(work: str) -> dict[str, list[str]]:
    code = _SIGNATURES.format(work=textwrap.indent(textwrap.dedent(work).strip(), "    ")
                              .lstrip())
    _fresh(code)
    return json.loads(_fresh(code))


#: The inpainting solver runs some of its kernels in float32 and in float64 within one decode
#: (float32 where its rounding is safe, inpaint.Inpainter): one signature per precision.
_BOTH_PRECISIONS = "PIL_ipc.solver."


def _more_than_one_signature(kernels: dict[str, list[str]], both_precisions: str = "") -> list:
    found = []
    for name, signatures in kernels.items():
        if both_precisions and name.startswith(both_precisions):
            signatures = {s.replace("float32", "float64") for s in signatures}
        if len(signatures) != 1:
            found.append((name, signatures))
    return found


@pytest.mark.parametrize("name", ["v1-airplane-t24", "rgba-graded-alpha", "la-graded-alpha"])
def test_a_decode_loads_each_kernel_with_one_signature(name):
    kernels = _kernels_used(f"Image.open({str(CORPUS / (name + '.ipc'))!r}).load()")
    assert "PIL_ipc.format._jbig_kernels.decode_image" in kernels and "PIL_ipc.format.values._decode" in kernels
    assert 5 < len(kernels) < 30
    assert _more_than_one_signature(kernels, _BOTH_PRECISIONS) == []


def test_an_encode_loads_each_kernel_with_one_signature():
    # grey and colour, at a fixed threshold and under a budget (rate control), and a JBIG
    # coding with the options the encoder does not use
    kernels = _kernels_used("""
        rng = np.random.default_rng(3)
        ramp = np.add.outer(np.arange(48.0), np.arange(40.0)) * 2 + rng.normal(0, 4, (48, 40))
        grey = Image.fromarray(np.clip(ramp, 0, 255).astype(np.uint8))
        for im, options in ((grey, dict(threshold=12)), (grey, dict(bpp=1.0)),
                            (grey.convert("RGB"), dict(bpp=1.5))):
            im.save(io.BytesIO(), "IPC", **options)
        from PIL_ipc.format import jbig
        jbig.encode(rng.random((30, 20)) < 0.3, lrltwo=True, l0=7)
        """)
    assert "PIL_ipc.format.values._code" in kernels and "PIL_ipc.encode.analysis._candidates" in kernels
    # (the solver's kernels run in more variants, see inpaint.py)
    assert _more_than_one_signature(
        {k: v for k, v in kernels.items() if not k.startswith(_BOTH_PRECISIONS)}) == []


@pytest.mark.parametrize("module", ["qm", "values", "sources", "_jbig_kernels"])
def test_kernels_are_declared_with_one_signature(module):
    # a declared kernel compiles nothing else: not for a literal, a read-only array or
    # another integer width, whether called from Python or from another kernel
    import importlib

    from numba.core.registry import CPUDispatcher

    m = importlib.import_module(f"PIL_ipc.format.{module}")
    kernels = {name: k for name, k in vars(m).items()
               if isinstance(k, CPUDispatcher) and k.py_func.__module__ == m.__name__}
    assert kernels
    assert [name for name, k in kernels.items() if not getattr(k, "declared_signature", None)
            ] == []


def test_a_declared_kernel_converts_safely_or_refuses():
    import numpy as np

    from PIL_ipc.format import values

    # med(left, upper, upper-left): the median edge detector, declared for three int64
    assert values.med(np.uint8(5), True, 7) == 1 and values.med(3, 9, 5) == 7
    levels, row = np.array([4, 9, 6]), np.array([0, 1, 2])
    assert values.predict(levels, row, 128) == 7
    with pytest.raises(TypeError):  # int32: not the declared int64 levels
        values.predict(levels.astype(np.int32), row, 128)
    with pytest.raises(TypeError):  # not C-contiguous
        values.predict(np.arange(6)[::2], row, 128)
    assert len(values.med.signatures) == len(values.predict.signatures) == 1


@pytest.mark.slow  # compiles the entropy coders into an empty cache
def test_kernels_compiled_by_callers_get_one_signature_too(tmp_path):
    # With an empty cache every kernel the entropy coders call is compiled in the process,
    # also those only other kernels call (a literal argument, f(x, 0), would otherwise get a
    # specialisation of its own).  No inpainting: it compiles for a minute.
    out = _fresh(f"""
        import gc, json, os
        os.environ["NUMBA_CACHE_DIR"] = {str(tmp_path)!r}
        import numpy as np
        from numba.core.registry import CPUDispatcher
        from PIL_ipc.format import jbig, qm, sources, values
        rng = np.random.default_rng(5)
        edges = rng.random((24, 30)) < 0.2
        points = sources.locate(edges, 3, rng.random((24, 30)) < 0.05, 4)
        k = rng.integers(0, 16, points.count)
        for coding in values.CODINGS:
            data = values.encode(k, points.predictors, 16, coding)
            assert (values.decode(data, points.predictors, 16, coding) == k).all()
            values.estimate_size(k, points.predictors, 16, coding)
        for options in ({{}}, dict(lrltwo=True, tpbon=False, l0=5)):
            assert (jbig.decode(jbig.encode(edges, **options)) == edges).all()
        bits = rng.random(100) < 0.3
        assert (qm.decode_decisions(qm.encode_decisions(bits, k[:100] % 3), k[:100] % 3)
                == bits).all()
        print(json.dumps({{f"{{k.py_func.__module__}}.{{k.py_func.__name__}}":
                          [str(s) for s in k.signatures] for k in gc.get_objects()
                          if isinstance(k, CPUDispatcher) and k.signatures}}))
        """)
    kernels = json.loads(out.strip().splitlines()[-1])
    assert "PIL_ipc.format.qm.enc_core" in kernels and "PIL_ipc.format.qm.dec_core" in kernels
    assert _more_than_one_signature(
        {k: v for k, v in kernels.items() if k.startswith("PIL_ipc.")}) == []


def test_the_helpers_list_is_what_a_decode_calls():
    # every (kernel, signature) the helper compiles first is one a decode uses: a list that
    # drifted from the solver would spend the helper's time on kernels nobody calls
    out = _fresh("""
        import json, sys
        from PIL import Image
        import PIL_ipc
        from PIL_ipc import precompile
        for name in sys.argv[1:]:
            Image.open(name).load()
        missing = []
        for kernel, signature in precompile.kernels():
            sigs = [tuple(s) for s in kernel.signatures]
            if (len(sigs) != 1) if signature is None else (tuple(signature) not in sigs):
                missing.append(kernel.py_func.__qualname__)
        print(json.dumps(missing))
        """, str(CORPUS / "house-0.25bpp.ipc"), str(CORPUS / "rgb-photo.ipc"))
    assert json.loads(out) == []
