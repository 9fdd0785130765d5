"""PyDojo judge harness: runs next to solution.py inside the sandbox.

stdin holds, in order: one line with the run's random delimiter, one line of
JSON configuration ({"mode": "compile"|"call", "entry_point": str|null,
"params": [str]}), then, for "call", the JSON array of arguments. All of it is
read before any user code runs, so the delimiter never sits in the
environment, a file or an unread pipe the solution could look at.

The report is one JSON object written after a line holding only the
delimiter, on a duplicate of the original stdout (so replacing sys.stdout does
not hide it); the judge takes the last such line. Whatever the solution
printed before stays in front of it and is ignored. Reports:
  {"ok": value}            the call returned value (compile: null)
  {"compile_error": msg}   the source does not compile, or the entry point
                           is missing or takes the wrong parameters
  {"error": {"type", "message", "traceback"}}
                           an exception escaped the solution; the traceback
                           keeps only solution.py's frames
Expected outputs never come here: the judge compares in Rust.
"""

import importlib.util
import inspect
import json
import os
import sys
import traceback

SOLUTION = os.path.abspath("solution.py")
_dumps = json.dumps
_write = os.write
_exit = os._exit


def _emit(out, delim, report):
    try:
        sys.stdout.flush()
    except BaseException:
        pass
    try:
        body = _dumps(report, default=_jsonable, allow_nan=False)
    except BaseException as e:
        body = _dumps(
            {
                "error": {
                    "type": "TypeError",
                    "message": "the return value cannot be encoded as JSON: "
                    + _safe_str(e),
                    "traceback": "",
                }
            }
        )
    data = ("\n" + delim + "\n" + body + "\n").encode()
    while data:
        data = data[_write(out, data) :]
    _exit(0)


def _jsonable(value):
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _safe_str(e):
    try:
        return str(e)
    except BaseException:
        return "<unprintable>"


def _is_solution(filename):
    return filename in (SOLUTION, "solution.py")


def _error(e):
    frames = [f for f in traceback.extract_tb(e.__traceback__) if _is_solution(f.filename)]
    for f in frames:
        f.filename = "solution.py"
    tb = "".join(traceback.format_list(frames))
    return {
        "error": {
            "type": type(e).__name__[:100],
            "message": _safe_str(e)[:2000],
            "traceback": tb[-4000:],
        }
    }


def _load():
    spec = importlib.util.spec_from_file_location("solution", SOLUTION)
    module = importlib.util.module_from_spec(spec)
    sys.modules["solution"] = module
    spec.loader.exec_module(module)
    return module


def _find_entry(module, name):
    fn = module.__dict__.get(name)
    if callable(fn) and not isinstance(fn, type):
        return fn
    cls = module.__dict__.get("Solution")
    if isinstance(cls, type) and callable(getattr(cls, name, None)):
        return getattr(cls(), name)
    return None


def _arity_ok(fn, n):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return True, ""
    required = positional = 0
    varargs = False
    P = inspect.Parameter
    for p in sig.parameters.values():
        if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD):
            positional += 1
            if p.default is P.empty:
                required += 1
        elif p.kind == P.VAR_POSITIONAL:
            varargs = True
        elif p.kind == P.KEYWORD_ONLY and p.default is P.empty:
            return False, str(sig)
    return required <= n and (varargs or n <= positional), str(sig)


def main():
    out = os.dup(1)
    raw = sys.stdin.buffer.read()
    head, _, rest = raw.partition(b"\n")
    delim = head.decode()
    conf_line, _, payload = rest.partition(b"\n")
    conf = json.loads(conf_line)
    del raw, head, rest, conf_line
    args = json.loads(payload) if conf["mode"] == "call" else None
    del payload
    name = conf.get("entry_point")

    if conf["mode"] == "compile":
        with open(SOLUTION, "rb") as f:
            source = f.read()
        try:
            compile(source, "solution.py", "exec")
        except SyntaxError as e:
            where = f"line {e.lineno}"
            if e.offset:
                where += f", column {e.offset}"
            _emit(out, delim, {"compile_error": f"{type(e).__name__}: {e.msg} ({where})"})
        except (ValueError, TypeError) as e:
            _emit(out, delim, {"compile_error": f"{type(e).__name__}: {_safe_str(e)}"})
        if name is None:
            _emit(out, delim, {"ok": None})

    sys.argv = ["solution.py"]
    try:
        fn = _find_entry(_load(), name)
    except BaseException as e:
        _emit(out, delim, _error(e))
    if fn is None:
        params = ", ".join(conf.get("params", ()))
        _emit(
            out,
            delim,
            {"compile_error": f"expected a function {name}({params}); solution.py defines no {name}"},
        )

    if conf["mode"] == "compile":
        ok, sig = _arity_ok(fn, len(conf["params"]))
        if not ok:
            params = ", ".join(conf["params"])
            _emit(
                out,
                delim,
                {"compile_error": f"expected a function {name}({params}), found {name}{sig}"},
            )
        _emit(out, delim, {"ok": None})

    try:
        result = fn(*args)
    except BaseException as e:
        _emit(out, delim, _error(e))
    _emit(out, delim, {"ok": result})


main()
