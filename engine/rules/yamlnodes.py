"""Read YAML into plain nodes that remember file:line:col, rejecting duplicate keys and YAML 1.1 traps."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from engine.errors import RuleProblem
from engine.rules.source import Source

# Plain words YAML 1.1 reads as booleans: in a rule file they are almost always a mistake
# (`country: NO` for Norway, `consent: yes`), so they must be quoted or written true/false.
_YAML11_BOOLS = frozenset({"yes", "no", "on", "off", "y", "n"})


@dataclass(frozen=True, slots=True)
class Pos:
    path: str
    line: int  # 1-based
    column: int  # 1-based

    def source(self) -> Source:
        return Source(path=self.path, line=self.line, column=self.column)


@dataclass(slots=True)
class YScalar:
    value: Any
    pos: Pos
    quoted: bool


@dataclass(slots=True)
class YSeq:
    items: list[YNode]
    pos: Pos


@dataclass(slots=True)
class YMap:
    entries: dict[str, tuple[Pos, YNode]] = field(default_factory=dict)
    pos: Pos = Pos("", 1, 1)

    def get(self, key: str) -> YNode | None:
        hit = self.entries.get(key)
        return hit[1] if hit else None

    def value_pos(self, key: str) -> Pos:
        """Where the value of `key` stands (the map itself when the key is missing)."""
        hit = self.entries.get(key)
        return hit[1].pos if hit else self.pos

    def key_pos(self, key: str) -> Pos:
        hit = self.entries.get(key)
        return hit[0] if hit else self.pos

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)


YNode = YScalar | YSeq | YMap


def plain(node: YNode) -> Any:
    """The node as plain Python data (positions dropped)."""
    if isinstance(node, YScalar):
        return node.value
    if isinstance(node, YSeq):
        return [plain(i) for i in node.items]
    return {k: plain(v) for k, (_, v) in node.entries.items()}


_TAG = "tag:yaml.org,2002:"


def _problem(pos: Pos, problem: str, hint: str = "", key_path: str = "") -> RuleProblem:
    return RuleProblem(
        path=pos.path,
        line=pos.line,
        column=pos.column,
        key_path=key_path,
        problem=problem,
        hint=hint,
    )


def _scalar(node: ScalarNode, path: str, problems: list[RuleProblem]) -> YScalar:
    pos = _pos(node, path)
    quoted = node.style in ("'", '"', "|", ">")
    # ruamel marks folded line breaks with BEL; a folded scalar reads as one line
    text: str = node.value.replace("\a", "") if node.style == ">" else node.value
    tag = str(getattr(node.tag, "value", node.tag))
    if quoted:
        return YScalar(text, pos, quoted)
    if text.lower() in _YAML11_BOOLS:
        problems.append(
            _problem(
                pos,
                f"ambiguous value '{text}'",
                f'quote it ("{text}") for text, or write true/false for yes/no',
            )
        )
        return YScalar(text, pos, quoted)
    value: Any = text
    if tag == _TAG + "str":
        pass
    elif tag == _TAG + "int":
        value = int(text.replace("_", ""), 0) if text[:2].lower() in ("0x", "0o") else int(text)
    elif tag == _TAG + "float":
        value = float(text)
    elif tag == _TAG + "bool":
        value = text.lower() == "true"
    elif tag == _TAG + "null":
        value = None
    return YScalar(value, pos, quoted)


def _pos(node: Node, path: str) -> Pos:
    mark = node.start_mark
    return Pos(path, mark.line + 1, mark.column + 1)


def _convert(node: Node, path: str, problems: list[RuleProblem]) -> YNode:
    if isinstance(node, ScalarNode):
        return _scalar(node, path, problems)
    if isinstance(node, SequenceNode):
        return YSeq([_convert(n, path, problems) for n in node.value], _pos(node, path))
    if isinstance(node, MappingNode):
        result = YMap(pos=_pos(node, path))
        for key_node, value_node in node.value:
            key_pos = _pos(key_node, path)
            if not isinstance(key_node, ScalarNode):
                problems.append(_problem(key_pos, "a key must be a plain word"))
                continue
            key = str(key_node.value)
            if key in result.entries:
                first = result.entries[key][0]
                problems.append(
                    _problem(
                        key_pos,
                        f"duplicate key '{key}'",
                        f"it is already set on line {first.line}; keep one of them",
                        key,
                    )
                )
                continue
            result.entries[key] = (key_pos, _convert(value_node, path, problems))
        return result
    raise TypeError(f"unexpected YAML node {node!r}")


_QUOTED_START = re.compile(r"""^\s*(?:-\s+)?(?:[\w.-]+:\s+)?(["'])(.*)$""")


def _quote_hint(text: str, line: int) -> str | None:
    """A hint for `when: "public" in customer.tags`: YAML took the quoted part as the whole value."""
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return None
    m = _QUOTED_START.match(lines[line - 1])
    if m is None:
        return None
    quote, rest = m.group(1), m.group(2)
    closing = rest.find(quote)
    if (
        closing < 0
        or not rest[closing + 1 :].strip()
        or rest[closing + 1 :].lstrip().startswith("#")
    ):
        return None
    value = quote + rest.split(" #")[0].rstrip()
    other = "'" if quote == '"' else '"'
    return (
        f"a value that starts with a quote must end with it: YAML read {quote}{rest[:closing]}{quote}"
        f" as the whole value and then found more; put the whole condition in"
        f" {'single' if other == chr(39) else 'double'} quotes, e.g. {other}{value}{other}"
    )


def load_yaml(text: str, path: str) -> tuple[YNode | None, list[RuleProblem]]:
    """Parse one YAML document into nodes; syntax errors come back as problems, never raised."""
    problems: list[RuleProblem] = []
    try:
        root = YAML(typ="rt").compose(text)
    except ReaderError as exc:  # a character YAML does not allow (control characters, ...)
        before = text[: max(exc.position, 0)]
        column = len(before) - (before.rfind("\n") + 1) + 1
        problem = f"character {exc.character:#x} is not allowed in YAML"
        hint = "remove it; rule files are plain UTF-8 text"
        return None, [_problem(Pos(path, before.count("\n") + 1, column), problem, hint)]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = f"YAML syntax: {exc.problem or exc.context}"
        hint = _quote_hint(text, line) or (
            "check indentation (spaces, not tabs) and that every ':' has a space after it"
        )
        return None, [_problem(Pos(path, line, column), problem, hint)]
    if root is None:
        return None, problems
    return _convert(root, path, problems), problems
