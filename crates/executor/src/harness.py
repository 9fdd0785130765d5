"""PyDojo judge harness: runs next to solution.py inside the sandbox, one
process per judgement, one forked child per test.

Protocol. stdin holds one line with the judgement's random delimiter, then
one line of JSON configuration ({"kind": "function"|"stdio",
"entry_point": str|null, "params": [str]}). The harness compiles
solution.py and, for a function problem, runs it as a module and checks the
entry point (the "load"); it then reports and waits for tests. Each test is
one line of JSON on stdin, sent by the judge only after the previous test's
end: a function problem's argument array, or a stdio problem's input as a
JSON string. For each, a forked child runs the test on a fresh copy of the
loaded state, with stdin being the test's input (stdio) or empty (function),
and reports its result; the parent waits for the child, then reports the
test's end with the child's exit status. EOF on stdin ends the harness.

Reports are one line of JSON after a line holding only the delimiter, written
on the original stdout after flushing the user's prints, which stay in front
and are, for stdio, the program's output:
  {"ok": value}            load: ready (value null); test: the return value
                           (stdio: null, the output is what was printed)
  {"compile_error": msg}   load: does not compile, or the entry point is
                           missing or takes the wrong parameters
  {"error": {"type", "message", "traceback"}}
                           an exception escaped the solution; the traceback
                           keeps only solution.py's frames
  {"exited": code}         stdio: the program called sys.exit(code != 0)
  {"end": {"exit": code|null, "signal": n|null}}
                           the parent, after the test's child has ended
Expected outputs never come here: the judge compares in Rust, and it reads
time and memory from the sandbox's cgroup, between sending a test and its end.
The delimiter is read before any user code runs; it is in this process's
memory, so a solution could find it, which gains nothing (see the executor
crate's docs).
"""

import json
import os
import sys

SOLUTION = os.path.abspath("solution.py")
_dumps = json.dumps
_loads = json.loads
_write = os.write
_exit = os._exit
OUT = os.dup(1)


def _emit(delim, report):
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
                    "message": "the return value cannot be encoded as JSON: " + _safe_str(e),
                    "traceback": "",
                }
            }
        )
    data = ("\n" + delim + "\n" + body + "\n").encode()
    while data:
        data = data[_write(OUT, data) :]


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


def _error(e):
    import traceback

    frames = [
        f
        for f in traceback.extract_tb(e.__traceback__)
        if f.filename in (SOLUTION, "solution.py")
    ]
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


def _find_entry(namespace, name):
    fn = namespace.get(name)
    if callable(fn) and not isinstance(fn, type):
        return fn
    cls = namespace.get("Solution")
    if isinstance(cls, type) and callable(getattr(cls, name, None)):
        return getattr(cls(), name)
    return None


def _arity_ok(fn, n):
    """Whether fn takes n positional arguments, without importing inspect
    (which costs more than the rest of the start-up) unless the function is
    not a plain Python one or the answer is no."""
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    if code is not None and not code.co_kwonlyargcount:
        positional = code.co_argcount - (1 if hasattr(fn, "__func__") else 0)
        defaults = len(getattr(getattr(fn, "__func__", fn), "__defaults__", None) or ())
        varargs = bool(code.co_flags & 0x04)
        if positional - defaults <= n and (varargs or n <= positional):
            return True, ""
    import inspect

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


def _fresh_namespace():
    import builtins

    return {"__name__": "__main__", "__file__": SOLUTION, "__builtins__": builtins}


def _child(delim, kind, code, namespace, name, line):
    """Runs one test in the forked child; never returns."""
    try:
        if kind == "function":
            args = _loads(line)
            fn = _find_entry(namespace, name)
            result = fn(*args)
            _emit(delim, {"ok": result})
        else:
            data = _loads(line).encode()
            fd = os.memfd_create("stdin")
            while data:
                data = data[_write(fd, data) :]
            os.lseek(fd, 0, 0)
            os.dup2(fd, 0)
            os.close(fd)
            sys.stdin = open(0, "r", encoding="utf-8", closefd=False)
            try:
                exec(code, _fresh_namespace())
            except SystemExit as e:
                status = e.code
                if status is not None and status != 0:
                    if not isinstance(status, int):
                        print(status, file=sys.stderr)
                        status = 1
                    _emit(delim, {"exited": status})
                    _exit(0)
            _emit(delim, {"ok": None})
    except BaseException as e:
        _emit(delim, _error(e))
    _exit(0)


def main():
    head = sys.stdin.buffer.readline()
    delim = head.decode().strip()
    conf = _loads(sys.stdin.buffer.readline())
    del head
    kind = conf["kind"]
    name = conf.get("entry_point")
    params = conf.get("params") or []
    sys.argv = ["solution.py"]

    with open(SOLUTION, "rb") as f:
        source = f.read()
    try:
        code = compile(source, SOLUTION, "exec")
    except SyntaxError as e:
        where = f"line {e.lineno}"
        if e.offset:
            where += f", column {e.offset}"
        _emit(delim, {"compile_error": f"{type(e).__name__}: {e.msg} ({where})"})
        return
    except (ValueError, TypeError) as e:
        _emit(delim, {"compile_error": f"{type(e).__name__}: {_safe_str(e)}"})
        return

    namespace = None
    if kind == "function":
        namespace = _fresh_namespace()
        try:
            exec(code, namespace)
            fn = _find_entry(namespace, name)
        except BaseException as e:
            _emit(delim, _error(e))
            return
        if fn is None:
            _emit(
                delim,
                {
                    "compile_error": f"expected a function {name}({', '.join(params)}); "
                    f"solution.py defines no {name}"
                },
            )
            return
        ok, sig = _arity_ok(fn, len(params))
        if not ok:
            _emit(
                delim,
                {"compile_error": f"expected a function {name}({', '.join(params)}), found {name}{sig}"},
            )
            return
    _emit(delim, {"ok": None})

    devnull = os.open(os.devnull, os.O_RDONLY)
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            return
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        pid = os.fork()
        if pid == 0:
            os.dup2(devnull, 0)
            _child(delim, kind, code, namespace, name, line)
        _, status = os.waitpid(pid, 0)
        end = {"exit": None, "signal": None}
        if os.WIFSIGNALED(status):
            end["signal"] = os.WTERMSIG(status)
        else:
            end["exit"] = os.WEXITSTATUS(status)
        _emit(delim, {"end": end})


main()
