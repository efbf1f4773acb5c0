"""The Jinja2 environment message templates run in: sandboxed, strict, and with resource limits.

Credit managers edit templates, so a template is untrusted code: it runs in Jinja's
ImmutableSandboxedEnvironment (no Python internals, no mutation), StrictUndefined (a misspelt
variable is an error, not an empty string), and with limits on what one expression may
allocate (`'x' * 10**7`, `range(10**9)`, `'%099999999d' % 1`, `'{:>99999999}'.format(1)`)
and on the size of the output. Autoescaping is on for HTML only: a template loaded under a
name ending in `.html` or `@html` escapes, text channels (SMS, WhatsApp, letter, plain email)
do not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, nodes
from jinja2.environment import Environment
from jinja2.exceptions import SecurityError
from jinja2.filters import do_center, do_indent, do_wordwrap
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from engine.errors import PayjourneyError

#: The longest string or list one expression may build with `*`.
MAX_SIZE = 1_000
#: Calls, operators and attribute lookups one render may make (macro recursion, big loops).
MAX_OPERATIONS = 200_000
#: The longest `range()` a template may loop over.
MAX_RANGE = 1_000
#: Loops nested deeper than this are refused when the template is loaded.
MAX_LOOP_DEPTH = 2
#: The longest rendered output of one template part (characters).
MAX_OUTPUT = 200_000
#: The suffix that loads a template for HTML output (autoescaped).
HTML_SUFFIX = "@html"


class TemplateProblem(PayjourneyError):
    """A template could not be loaded or rendered; the message names the file and the fix."""


class TemplateRefused(TemplateProblem):
    """A template tried something the sandbox does not allow."""


_budget: ContextVar[list[int]] = ContextVar("template_budget")


def _spend() -> None:
    """Count one operation against the render's budget (set by render_limited)."""
    budget = _budget.get(None)
    if budget is None:
        return
    budget[0] -= 1
    if budget[0] < 0:
        raise SecurityError(
            f"the template does more than {MAX_OPERATIONS:,} operations; simplify its loops"
        )


def _limit(size: int, what: str) -> None:
    if size > MAX_SIZE:
        raise SecurityError(
            f"{what} would build {size:,} items; templates are limited to {MAX_SIZE:,}"
        )


def _safe_range(*args: int) -> range:
    values = range(*args)
    if len(values) > MAX_RANGE:
        raise SecurityError(f"range() of {len(values):,} items; the limit is {MAX_RANGE:,}")
    return values


def _checked_width(width: Any) -> None:
    if isinstance(width, int) and width > MAX_SIZE:
        raise SecurityError(f"a width of {width:,}; templates are limited to {MAX_SIZE:,}")


def _center(value: str, width: int = 80) -> str:
    _checked_width(width)
    return do_center(value, width)


def _indent(s: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    _checked_width(width if isinstance(width, int) else len(width))
    return do_indent(s, width, first, blank)


def _refused_filter(name: str, hint: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise SecurityError(f"the |{name} filter is not available in templates; {hint}")

    return refuse


#: Seconds a compiled template is trusted before its file's modification time is looked at
#: again. Jinja's auto-reload stats every file of a template's chain on every render (17 per
#: email); an edit is still picked up within this time.
RELOAD_CHECK_SECONDS = 1.0


class MessageLoader(FileSystemLoader):
    """Loads `name@html` as the file `name`, so one file can be compiled with and without
    autoescaping (Jinja decides escaping per template name at compile time)."""

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        name = template.removesuffix(HTML_SUFFIX)
        source, filename, uptodate = super().get_source(environment, name)
        return source, filename, _checked_at_most_every(RELOAD_CHECK_SECONDS, uptodate)


def _checked_at_most_every(seconds: float, uptodate: Callable[[], bool]) -> Callable[[], bool]:
    """`uptodate`, asked at most once per `seconds`; in between the last answer holds."""
    checked = time.monotonic()

    def cached() -> bool:
        nonlocal checked
        now = time.monotonic()
        if now - checked < seconds:
            return True
        if not uptodate():
            return False  # never cached: the template is reloaded and gets a new check
        checked = now
        return True

    return cached


def _is_html(name: str | None) -> bool:
    return name is not None and (name.endswith(".html") or name.endswith(HTML_SUFFIX))


#: What `getattr(a_dict, name)` finds: these names stay attribute lookups in templates.
_DICT_ATTRIBUTES = frozenset(dir(dict))


class MessageEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with the limits above; templates extend and import within one root."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, root: Path) -> None:
        super().__init__(
            loader=MessageLoader(str(root), encoding="utf-8"),
            undefined=StrictUndefined,
            autoescape=_is_html,
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=True,
            # never evicted (the templates are the files of one folder): Jinja's LRU cache
            # moves a template to the front of a deque on every lookup, O(templates), and a
            # message looks up a dozen (parts, layouts, parents, imports)
            cache_size=-1,
        )
        self.globals["range"] = _safe_range
        self.filters.update(
            center=_center,
            indent=_indent,
            wordwrap=self._wordwrap,
            format=_refused_filter("format", "use the money(), number() or date() helpers"),
            batch=_refused_filter("batch", "loop over the list itself"),
            slice=_refused_filter("slice", "loop over the list itself"),
        )

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Every template compiled (parents and imports too, and again after an edit) is
        refused when its loops nest deeper than MAX_LOOP_DEPTH: CPU exhaustion."""
        tree = super()._parse(source, name, filename)
        depth = loop_depth(tree)
        if depth > MAX_LOOP_DEPTH:
            raise SecurityError(
                f"{name}: for loops nested {depth} deep; templates may nest at most "
                f"{MAX_LOOP_DEPTH}"
            )
        return tree

    def _wordwrap(self, s: str, width: int = 79, break_long_words: bool = True) -> str:
        _checked_width(width)
        return do_wordwrap(self, s, width, break_long_words)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _spend()
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES and attribute in obj:
            # `customer.name` on a plain dict: Jinja's sandbox tries getattr first and falls
            # back to the item after an AttributeError, which was most of a lookup's cost;
            # for a name that is no dict attribute that fallback is certain, so go straight
            return obj[attribute]
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _spend()
        return super().getitem(obj, argument)

    def join_path(self, template: str, parent: str) -> str:
        """A template extended or imported from an HTML-mode template is HTML-mode too."""
        if parent.endswith(HTML_SUFFIX) and not _is_html(template):
            return template + HTML_SUFFIX
        return template

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        _spend()
        if operator_ == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple | Markup) and isinstance(count, int):
                    _limit(len(seq) * count, "repeating a sequence")
        elif operator_ == "**":
            if isinstance(right, int) and abs(right) > 100:
                raise SecurityError(f"an exponent of {right:,}; the limit is 100")
            if isinstance(left, int) and isinstance(right, int) and abs(left) > 10**6:
                raise SecurityError("powers of numbers above 1,000,000 are not allowed")
        elif operator_ == "%" and isinstance(left, str):
            raise SecurityError("%-formatting is not available; use money(), number(), date()")
        elif (
            operator_ == "+" and isinstance(left, str | list | tuple) and hasattr(right, "__len__")
        ):
            _limit(len(left) + len(right), "joining sequences")
        return super().call_binop(context, operator_, left, right)

    def call(
        __self,  # Jinja names it so: a keyword argument may be called `self`
        __context: Any,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        _spend()
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if isinstance(owner, str):
            if name in ("format", "format_map"):
                raise SecurityError(
                    "str.format is not available in templates; use money(), number(), date()"
                )
            if name in ("center", "ljust", "rjust", "zfill", "expandtabs"):
                for arg in args:
                    _checked_width(arg)
            if name == "join":
                items = args[0] if args else ()
                if hasattr(items, "__len__"):
                    _limit(len(items) * max(len(owner), 1), "joining")
        return super().call(__context, __obj, *args, **kwargs)


def loop_depth(node: nodes.Node, depth: int = 0) -> int:
    """The deepest nesting of for loops under `node`."""
    deepest = depth
    for child in node.iter_child_nodes():
        inner = depth + 1 if isinstance(child, nodes.For) else depth
        deepest = max(deepest, loop_depth(child, inner))
    return deepest


def render_limited(chunks: Iterable[str], name: str) -> str:
    """Join rendered chunks within the operation budget, stopping once the output passes
    MAX_OUTPUT. The chunks are produced lazily, so the budget covers the whole render."""
    out: list[str] = []
    size = 0
    token = _budget.set([MAX_OPERATIONS])
    try:
        for chunk in chunks:
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateRefused(
                    f"{name}: the output is longer than {MAX_OUTPUT:,} characters; "
                    "a message template should produce a message"
                )
            out.append(chunk)
    finally:
        _budget.reset(token)
    return "".join(out)


def paragraphs(text: str) -> Markup:
    """Plain text with blank-line paragraphs as HTML `<p>` with `<br>` for single breaks.

    The text is escaped unless it is already Markup (rendered in HTML mode)."""
    safe = text if isinstance(text, Markup) else escape(text)
    parts: Sequence[str] = [p.strip() for p in str(safe).split("\n\n") if p.strip()]
    return Markup("\n".join(f"<p>{p.replace(chr(10), '<br>' + chr(10))}</p>" for p in parts))


__all__ = [
    "MAX_OUTPUT",
    "MAX_RANGE",
    "MAX_SIZE",
    "MessageEnvironment",
    "TemplateProblem",
    "TemplateRefused",
    "paragraphs",
    "render_limited",
]
