"""Differential testing, the sandbox's side: runs in a child of a worker in "differential" mode.

Never imported by the server: :mod:`perfedit.sandbox.worker` forks a resource-limited child,
redirects its output, and loads this file by path in the child only (so the worker itself
pre-imports nothing). The child imports the program's module, finds the target function and
serves one task (:func:`serve`), sending frames (:mod:`perfedit.sandbox.protocol`, which the
worker has loaded as ``_perfedit_sandbox_protocol``) to the worker:

* ``GENERATE``: inputs made with hypothesis (derandomized, no example database, at most
  ``examples`` of them) from the function's type hints, else from the types of the values the
  recorded calls passed; with ``widen``, inputs beyond those types (:func:`widened`) for the
  parameters without a type hint; answered ``{GENERATED: [bytes, ...], PROBLEM: str}``.
* ``OUTCOMES``: the function called on each input from ``start`` on, one frame per input
  (``{"index", *OUTCOME_FIELDS}``) after a ``{"ready": True}`` frame.
* ``TIME``: the function called once on every input per pass, as many passes as the worker
  asks for, each between two marks at which the worker reads its own clocks
  (:func:`time_calls`); nothing is timed here.

An input is the :mod:`pickle` of one call's ``(args, kwargs)``. Pickles are loaded here, in the
sandbox, and never in the server: the program and its candidates are untrusted. What goes back
is plain data: bytes of pickles the server only passes on, and outcomes as JSON text.

An outcome describes what one call did in canonical, JSON-safe form: ``result`` is
``["returns", value]`` or ``["raises", exception type]`` (the message, ``message``, is shown but
not compared; ``fault``: the exception is one of ``FAULTS`` that an operation raised, not a
``raise`` statement), ``args`` and
``kwargs`` are the arguments after the call (so mutation counts). A value is ``[type name,
contents]``: sets and dicts are sorted canonically, floats stay numbers (the server compares
them with a tolerance), non-finite floats become strings, iterators are consumed (up to
``MAX_ITEMS``), other objects are described by their attributes, else by their ``repr`` with
memory addresses removed. When an outcome's description is longer than ``MAX_JSON_CHARS``,
each part of it (the value returned, each argument) longer than ``MAX_PART_CHARS`` becomes
``[type name, {"sha256": digest}]``, the digest of its description with floats rounded to
``DIGEST_DIGITS`` significant digits (so a large result still compares, exactly but for float
rounding, and the call stays usable for timing); an outcome still too long is replaced by one
digest. A value of more than ``MAX_NODES`` values is cut short.
"""

import dis
import hashlib
import json
import math
import pickle
import reprlib
import sys
import traceback

import _perfedit_sandbox_protocol as protocol

MAX_NODES = 200_000
MAX_DEPTH = 100
MAX_ITEMS = 10_000
MAX_JSON_CHARS = 256 * 1024
MAX_PART_CHARS = 4 * 1024
DIGEST_DIGITS = 6  # significant digits of floats in a digest: FLOAT_TOLERANCE's scale (1e-6)
MAX_TEXT_CHARS = 120
MAX_COLLECTION_SIZE = 30  # generated lists, sets and dicts built from recorded values
SAMPLED_ITEMS = 200  # items of a recorded container looked at to infer its element types
WIDENED_SIZE = 3  # lists and dicts generated as items of a widened input
#: Exceptions that mark an input outside what a function can compute when an operation raises
#: them (not a ``raise`` statement): callers rarely catch them as a signal, unlike KeyError,
#: IndexError, ValueError or StopIteration.
FAULTS = (ZeroDivisionError, OverflowError, RecursionError)
_SCALARS = (bool, int, float, complex, str, bytes, bytearray, type(None))


def serve(spec, task, inputs, send, mark):
    """Do ``task`` (see the module docstring) for the function ``spec["function"]`` of module
    ``spec["module"]`` on ``inputs`` (pickled calls); ``send`` writes one frame to the worker,
    ``mark(name)`` sends a mark and waits for the worker's acknowledgement."""
    try:
        __import__(spec["module"])
        function = getattr(sys.modules[spec["module"]], spec["function"])
    except BaseException:
        send(
            {
                protocol.PROBLEM: f"importing {spec['module']}.{spec['function']} failed:\n{_traceback()}"
            }
        )
        return
    if task["op"] == protocol.GENERATE:
        send(
            generate(
                function,
                task["recorded"],
                task["examples"],
                task["max_input_bytes"],
                task["storage_dir"],
                widen=task.get("widen", False),
            )
        )
    elif task["op"] == protocol.OUTCOMES:
        send({"ready": True})
        for index in range(task["start"], len(inputs)):
            send({"index": index, **describe_call(function, spec["function"], inputs[index])})
    elif task["op"] == protocol.TIME:
        time_calls(function, inputs, mark)


def _traceback():
    return traceback.format_exc()[-2000:]


# --- generating inputs -------------------------------------------------------------------------


def generate(function, recorded, examples, max_input_bytes, storage_dir, widen=False):
    """Up to ``examples`` distinct pickled calls of ``function`` drawn by hypothesis, each at
    most ``max_input_bytes``: each parameter from its type hint, else from the types of the
    values that the ``recorded`` calls passed to it (with ``widen``: from :func:`widened`
    values, and only if some parameter has no hint); a parameter with neither but with a
    default keeps its default. ``storage_dir`` is hypothesis' storage folder (its Unicode
    tables; no example database is used). ``problem`` says why no input could be made."""
    import inspect
    import os
    import typing

    if examples == 0:
        return {protocol.GENERATED: [], protocol.PROBLEM: "differential_examples is 0"}
    os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = storage_dir
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    try:
        signature = inspect.signature(function)
        hints = typing.get_type_hints(function)
    except Exception:
        return {
            protocol.GENERATED: [],
            protocol.PROBLEM: f"cannot read the signature or type hints:\n{_traceback()}",
        }
    try:
        call = _call_strategy(st, signature, hints, _recorded_values(signature, recorded), widen)
    except Exception:
        return {
            protocol.GENERATED: [],
            protocol.PROBLEM: f"no strategy for its parameters:\n{_traceback()}",
        }
    if isinstance(call, str):
        return {protocol.GENERATED: [], protocol.PROBLEM: call}
    made, problems = {}, []

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(call)
    def collect(drawn):
        args, kwargs = drawn
        try:
            data = pickle.dumps((args, kwargs))
        except Exception as exc:
            problems.append(f"a generated input cannot be pickled: {exc!r}")
            return
        if len(data) <= max_input_bytes:
            made.setdefault(data, None)

    try:
        collect()
    except Exception:
        return {
            protocol.GENERATED: list(made),
            protocol.PROBLEM: f"hypothesis could not generate inputs:\n{_traceback()}",
        }
    return {
        protocol.GENERATED: list(made),
        protocol.PROBLEM: "" if made else "; ".join(problems[:1]) or "no input was generated",
    }


def _recorded_values(signature, recorded):
    """Parameter name -> the values the ``recorded`` calls passed to it (calls that cannot be
    loaded here, e.g. with an object of a test module, are skipped)."""
    seen = {name: [] for name in signature.parameters}
    for data in recorded:
        try:
            args, kwargs = pickle.loads(data)
            bound = signature.bind(*args, **kwargs)
        except Exception:
            continue
        for name, value in bound.arguments.items():
            seen[name].append(value)
    return seen


def _call_strategy(st, signature, hints, seen, widen=False):
    """A strategy for ``(args, kwargs)`` of a call (see :func:`generate`), or why there is none."""
    positional, keywords, skipped, widened_any = [], {}, False, False
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if name in hints:
            strategy = st.from_type(hints[name])
        elif seen[name] and widen:
            strategy, widened_any = widened(st, seen[name]), True
        elif seen[name]:
            strategy = like(st, seen[name])
        elif parameter.default is not parameter.empty:
            skipped = True  # keeps its default; the parameters after it go by keyword
            continue
        else:
            return f"parameter {name!r} has no type hint and no recorded value"
        if (
            parameter.kind == parameter.KEYWORD_ONLY
            or skipped
            and parameter.kind == parameter.POSITIONAL_OR_KEYWORD
        ):
            keywords[name] = strategy
        elif not skipped:
            positional.append(strategy)
        # else: positional-only after a skipped one; it has a default too, and keeps it
    if widen and not widened_any:
        return (
            "every parameter has a type hint (its contract) or no recorded value: nothing to widen"
        )
    return st.tuples(st.tuples(*positional), st.fixed_dictionaries(keywords))


def like(st, values):
    """A hypothesis strategy for values of the same types (and shapes) as ``values``: scalars
    from their type, lists, sets, dicts and tuples of such, values of other types drawn from
    ``values`` themselves."""
    by_type = {}
    for value in values:
        by_type.setdefault(type(value), []).append(value)
    strategies = []
    for kind, group in by_type.items():
        if kind in _SCALARS:
            strategies.append(st.from_type(kind))
        elif kind in (list, set, frozenset):
            elements = like(st, [item for value in group for item in list(value)[:SAMPLED_ITEMS]])
            build = {list: st.lists, set: st.sets, frozenset: st.frozensets}[kind]
            strategies.append(build(elements, max_size=MAX_COLLECTION_SIZE))
        elif kind is dict:
            pairs = [pair for value in group for pair in list(value.items())[:SAMPLED_ITEMS]]
            strategies.append(
                st.dictionaries(
                    like(st, [key for key, _ in pairs]),
                    like(st, [item for _, item in pairs]),
                    max_size=MAX_COLLECTION_SIZE,
                )
            )
        elif kind is tuple:
            for size in sorted({len(value) for value in group}):
                columns = zip(*(value for value in group if len(value) == size), strict=True)
                strategies.append(st.tuples(*(like(st, list(column)) for column in columns)))
        else:
            strategies.append(
                st.sampled_from(group[:SAMPLED_ITEMS])
            )  # a type hypothesis may not know how to build
    return st.one_of(strategies) if strategies else st.nothing()


def widened(st, values):
    """A strategy for values beyond the types of ``values`` that the original may still accept:
    None, empty containers, and containers of the recorded kinds whose items are also
    unhashable (lists, dicts), None or tuples, with their first items repeated (duplicates)."""
    by_type = {}
    for value in values:
        by_type.setdefault(type(value), []).append(value)
    strategies = [st.none()]
    for kind, group in by_type.items():
        if kind in (list, tuple, set, frozenset, dict):
            items = [item for value in group for item in list(value)[:SAMPLED_ITEMS]]
            base = like(st, items) if items else st.integers()
            if kind is dict:
                values_seen = [
                    item for value in group for item in list(value.values())[:SAMPLED_ITEMS]
                ]
                base = like(st, values_seen) if values_seen else st.integers()
            unhashable = st.one_of(
                st.lists(base, max_size=WIDENED_SIZE),
                st.dictionaries(st.text(max_size=3), base, max_size=WIDENED_SIZE),
            )
            hashable = st.one_of(st.none(), st.tuples(base, base))
            strategies.append(st.just(kind()))
            if kind in (list, tuple):
                items_of = st.lists(
                    st.one_of(base, unhashable, hashable), max_size=MAX_COLLECTION_SIZE
                )
                strategies.append(items_of.map(lambda drawn, kind=kind: kind(drawn + drawn[:2])))
            elif kind is dict:
                strategies.append(
                    st.dictionaries(
                        like(st, [key for value in group for key in value]),
                        st.one_of(unhashable, hashable),
                        max_size=MAX_COLLECTION_SIZE,
                    )
                )
            else:
                strategies.append(
                    st.lists(st.one_of(base, hashable), max_size=MAX_COLLECTION_SIZE).map(kind)
                )
        elif kind in (str, bytes, bytearray):
            strategies.append(st.just(kind()))
            strategies.append(
                st.lists(
                    st.one_of(like(st, group), st.lists(like(st, group), max_size=WIDENED_SIZE)),
                    max_size=WIDENED_SIZE,
                ).map(lambda drawn: drawn + drawn[:2])
            )
    return st.one_of(strategies)


# --- describing calls --------------------------------------------------------------------------


def describe_call(function, name, data):
    """What calling ``function`` on the pickled call ``data`` did: ``outcome`` (JSON text, see
    the module docstring), ``call`` (how it was called, short), ``result`` and ``args`` (short
    texts of the result and of the arguments after the call)."""
    try:
        args, kwargs = pickle.loads(data)
    except Exception:
        return {
            "outcome": json.dumps({"unusable": _traceback()[-300:]}),
            "call": "?",
            "result": "",
            "args": [],
        }
    call = f"{name}({', '.join([*map(short, args), *(f'{key}={short(value)}' for key, value in kwargs.items())])})"
    try:
        value = function(*args, **kwargs)
    except BaseException as exc:
        result, text, message = (
            ["raises", type_name(type(exc))],
            f"raises {type_name(type(exc))}",
            _message(exc),
        )
        fault = _operation_fault(exc)
    else:
        result, text, message = ["returns", canonical(value)], f"returns {short(value)}", ""
        fault = False
    outcome = {
        "result": result,
        "message": message,
        "fault": fault,
        "args": [canonical(arg) for arg in args],
        "kwargs": [[key, canonical(value)] for key, value in sorted(kwargs.items())],
    }
    texts = [*map(short, args), *(short(value) for _, value in sorted(kwargs.items()))]
    return {
        "outcome": _bounded(_digested_outcome(outcome)),
        "call": _cut(call),
        "result": _cut(text),
        "args": texts,
    }


def _operation_fault(exc):
    """True if ``exc`` is one of ``FAULTS`` raised by an operation (``n % 0``, a float too large,
    recursion too deep) rather than by a ``raise`` statement."""
    if not isinstance(exc, FAULTS):
        return False
    tb = exc.__traceback__
    if tb is None:
        return True
    while tb.tb_next is not None:
        tb = tb.tb_next
    try:
        raised = next(
            (i for i in dis.get_instructions(tb.tb_frame.f_code) if i.offset == tb.tb_lasti), None
        )
    except Exception:
        return False
    return raised is None or raised.opname != "RAISE_VARARGS"


def _message(exc):
    """The exception's message, short (running its ``__str__`` here, in the sandbox)."""
    try:
        return _cut(str(exc).splitlines()[0] if str(exc) else "")
    except Exception:
        return ""


def _digested_outcome(outcome):
    """The JSON text of ``outcome``; when it is longer than MAX_JSON_CHARS, with its returned
    value and arguments longer than MAX_PART_CHARS each replaced by their digest."""
    text = json.dumps(outcome, allow_nan=False)
    if len(text) <= MAX_JSON_CHARS:
        return text
    kind, *value = outcome["result"]
    digested = dict(
        outcome,
        result=[kind, *map(_digest, value)] if kind == "returns" else outcome["result"],
        args=[_digest(form) for form in outcome["args"]],
        kwargs=[[key, _digest(form)] for key, form in outcome["kwargs"]],
    )
    return json.dumps(digested, allow_nan=False)


def _digest(form):
    """``form``, or ``[type name, {"sha256": …}]`` when its JSON is longer than MAX_PART_CHARS."""
    text = json.dumps(form, allow_nan=False)
    if len(text) <= MAX_PART_CHARS:
        return form
    rounded = json.dumps(_rounded(form), allow_nan=False)
    return [form[0], {"sha256": hashlib.sha256(rounded.encode()).hexdigest()}]


def _rounded(form):
    """``form`` with every float rounded to DIGEST_DIGITS significant digits (0 below 1e-6)."""
    if isinstance(form, float):
        return 0.0 if abs(form) < 1e-6 else float(f"{form:.{DIGEST_DIGITS}g}")
    if isinstance(form, list):
        return [_rounded(item) for item in form]
    return form


def _bounded(text):
    """``text``, or a JSON digest of it when it is longer than MAX_JSON_CHARS."""
    if len(text) <= MAX_JSON_CHARS:
        return text
    return json.dumps({"sha256": hashlib.sha256(text.encode()).hexdigest()})


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxtuple, _SHORT.maxdict, _SHORT.maxset = 3, 8, 8, 6, 8
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 40, 40, 40


def short(value):
    """A short ``repr`` of ``value`` (at most MAX_TEXT_CHARS)."""
    try:
        return _cut(_SHORT.repr(value))
    except Exception:
        return f"<{type_name(type(value))} that cannot be shown>"


def _cut(text):
    return text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 1] + "…"


def type_name(kind):
    """``qualname`` for built-in types, ``module.qualname`` for the others."""
    module = getattr(kind, "__module__", "")
    qualname = getattr(kind, "__qualname__", "?")
    return qualname if module == "builtins" else f"{module}.{qualname}"


class _TooLarge(Exception):
    pass


def canonical(value):
    """The canonical, JSON-safe form of ``value`` (see the module docstring); computing it may
    run the value's own code (iteration, ``repr``): that is why it happens in the sandbox."""
    nodes = [0]
    try:
        return _canonical(value, 0, set(), nodes)
    except _TooLarge:
        return ["too-large", type_name(type(value))]
    except Exception as exc:
        return ["unrepresentable", type_name(type(value)), type_name(type(exc))]


def _canonical(value, depth, active, nodes):
    nodes[0] += 1
    if nodes[0] > MAX_NODES:
        raise _TooLarge
    kind = type(value)
    name = type_name(kind)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        return [name, hex(value)]  # JSON readers lose such numbers; decimal text is length-limited
    if value is None or isinstance(value, bool | int | str):
        return [name, value]
    if isinstance(value, float):
        return [name, value if math.isfinite(value) else repr(value)]
    if isinstance(value, complex):
        return [
            name,
            [
                _canonical(value.real, depth, active, nodes),
                _canonical(value.imag, depth, active, nodes),
            ],
        ]
    if isinstance(value, bytes | bytearray):
        return [name, value.hex()]
    if depth >= MAX_DEPTH:
        return [name, "too-deep"]
    if id(value) in active:
        return [name, "cycle"]
    active.add(id(value))
    try:
        return [name, *_contents(value, depth + 1, active, nodes)]
    finally:
        active.discard(id(value))


def _contents(value, depth, active, nodes):
    """The contents part of a container's or an object's canonical form (a list)."""

    def walk(item):
        return _canonical(item, depth, active, nodes)

    if isinstance(value, list | tuple):
        return [[walk(item) for item in value]]
    if isinstance(value, set | frozenset):
        return [sorted((walk(item) for item in value), key=_order)]
    if isinstance(value, dict):
        return [sorted(([walk(key), walk(item)] for key, item in value.items()), key=_order)]
    if type(value).__module__.split(".")[0] == "numpy" and hasattr(value, "tolist"):
        return [str(getattr(value, "dtype", "")), walk(value.tolist())]
    if hasattr(type(value), "__next__") and iter(value) is value:
        items = []
        for item in value:
            if len(items) == MAX_ITEMS:
                return [[walk(item) for item in items], "more"]
            items.append(item)
        return [[walk(item) for item in items]]
    attributes = getattr(value, "__dict__", None)
    slots = [
        slot
        for cls in type(value).__mro__
        for slot in getattr(cls, "__slots__", ())
        if isinstance(slot, str)
    ]
    if isinstance(attributes, dict) or slots:
        fields = dict(attributes) if isinstance(attributes, dict) else {}
        fields.update(
            (slot, getattr(value, slot))
            for slot in slots
            if slot != "__dict__" and hasattr(value, slot)
        )
        return [walk(fields)]
    return [_without_addresses(repr(value))]


def _order(form):
    return json.dumps(form, sort_keys=True)


def _without_addresses(text):
    """``text`` with `` at 0x…`` memory addresses removed (they differ between processes)."""
    parts = text.split(" at 0x")
    return parts[0] + "".join(part.lstrip("0123456789abcdefABCDEF") for part in parts[1:])


# --- timing --------------------------------------------------------------------------------------


def time_calls(function, inputs, mark):
    """Call ``function`` once on every input, one pass between a "start" and a "stop" mark,
    after a "ready" mark and before an "end" one. The arguments are loaded before the start
    mark (so loading is not timed); an exception ends only its call. One pass only: a second
    one in this process would find whatever the first left behind (a cache of the answers), so
    each timed run is a fresh child. The worker reads its clocks and this process's CPU time
    at each mark, while this process waits."""
    mark("ready")
    calls = [pickle.loads(data) for data in inputs]
    mark("start")
    for args, kwargs in calls:
        try:  # noqa: SIM105 - contextlib.suppress would add its own calls to the timed region
            function(*args, **kwargs)
        except Exception:
            pass
    mark("stop")
    mark("end")
