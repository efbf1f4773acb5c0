"""Templates run sandboxed: no Python internals, no resource abuse, escaping for HTML only."""

from __future__ import annotations

import functools
import time
from pathlib import Path

import pytest

from engine.messages.render import Renderer
from engine.messages.sandbox import TemplateProblem, TemplateRefused

LAYOUT = "{% block sms %}{% endblock %}"


def _renderer(tmp_path: Path, sms: str, *, extra: dict[str, str] | None = None) -> Renderer:
    (tmp_path / "layout").mkdir()
    for part in ("sms.txt", "subject.txt", "email.txt", "whatsapp.txt", "letter.txt", "phone.txt"):
        (tmp_path / "layout" / part).write_text(LAYOUT, encoding="utf-8")
    (tmp_path / "layout" / "email.html").write_text(
        "<p>{% block sms %}{% endblock %}</p>", encoding="utf-8"
    )
    (tmp_path / "nl").mkdir()
    body = "{% extends layout %}{% block sms %}" + sms + "{% endblock %}"
    (tmp_path / "nl" / "t.u.j2").write_text(body, encoding="utf-8")
    for name, text in (extra or {}).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return Renderer(tmp_path)


def _sms(tmp_path: Path, sms: str, **context: object) -> str:
    renderer = _renderer(tmp_path, sms)
    message = renderer.render(template="t", language="nl", tone="u", channel="sms", context=context)
    return message.text


@pytest.mark.parametrize(
    "attack",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ name.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ lipsum.__globals__['os'].popen('id').read() }}",
        "{{ self._TemplateReference__context }}",
        "{{ (1).__class__.__base__.__subclasses__() }}",
        "{{ name|attr('__class__') }}",
        "{{ namespace.__init__.__globals__ }}",
    ],
)
def test_a_template_that_reaches_for_python_internals_is_refused(
    tmp_path: Path, attack: str
) -> None:
    with pytest.raises(TemplateRefused, match="unsafe") as caught:
        _sms(tmp_path, attack, name="Jan")
    assert "nl/t.u.j2" in str(caught.value)


def test_immutable_sandbox_refuses_changing_a_list(tmp_path: Path) -> None:
    with pytest.raises(TemplateRefused):
        _sms(tmp_path, "{{ items.append(1) }}", items=[])


@pytest.mark.parametrize(
    "abuse",
    [
        "{{ 'x' * 10**7 }}",
        "{{ 10**7 * 'x' }}",
        "{{ ['x'] * 10**7 }}",
        "{{ ('x' * 900) * 900 }}",
        "{% macro f(n) %}{% for i in range(1000) %}{{ f(n) }}{% endfor %}{% endmacro %}{{ f(1) }}",
        "{% macro f(n) %}{% if n %}{% for i in range(1000) %}{{ f(n - 1) }}{% endfor %}"
        "{% endif %}{% endmacro %}{{ f(3) }}",
        "{% for i in range(10**9) %}{% endfor %}",
        "{{ '%099999999d' % 1 }}",
        "{{ '{:>99999999}'.format(1) }}",
        "{{ 'x'.center(99999999) }}",
        "{{ 'x'|center(99999999) }}",
        "{{ 'x'|indent(99999999) }}",
        "{{ 9**9**9 }}",
        "{{ 'a'|format() }}",
        "{{ [1]|batch(10**9, 'x')|list }}",
    ],
)
def test_resource_abuse_is_refused(tmp_path: Path, abuse: str) -> None:
    with pytest.raises(TemplateRefused, match=r"refused|limit|not available|nested|longer"):
        _sms(tmp_path, abuse)


def test_loops_nested_three_deep_are_refused_before_they_run(tmp_path: Path) -> None:
    deep = "{% for a in x %}{% for b in x %}{% for c in x %}.{% endfor %}{% endfor %}{% endfor %}"
    with pytest.raises(TemplateRefused, match="nested 3 deep"):
        _sms(tmp_path, deep, x=[1])


def test_output_longer_than_the_limit_is_refused(tmp_path: Path) -> None:
    many = "{% for a in range(1000) %}{% for b in range(1000) %}xy{% endfor %}{% endfor %}"
    with pytest.raises(TemplateRefused, match="longer than"):
        _sms(tmp_path, many)


def test_an_unknown_variable_is_an_error_not_an_empty_string(tmp_path: Path) -> None:
    with pytest.raises(TemplateProblem, match="'amonut' is undefined"):
        _sms(tmp_path, "Te betalen: {{ amonut }}", amount="€ 10,00")


def test_a_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(TemplateProblem, match=r"t.u.j2:1: template syntax error"):
        _sms(tmp_path, "{{ oops ")


def test_html_is_escaped_and_text_is_not(tmp_path: Path) -> None:
    renderer = _renderer(tmp_path, "{{ name }}")
    context = {"name": "<b>Jansen & Zn</b>"}
    email = renderer.render(template="t", language="nl", tone="u", channel="email", context=context)
    assert email.html == "<p>&lt;b&gt;Jansen &amp; Zn&lt;/b&gt;</p>"
    assert email.text == "<b>Jansen & Zn</b>"


def test_ordinary_template_arithmetic_still_works(tmp_path: Path) -> None:
    text = _sms(tmp_path, "{{ '-' * 20 }} {{ 2 ** 10 }} {{ items|join(', ') }}", items=["a", "b"])
    assert text == "-------------------- 1024 a, b"


def test_an_empty_part_says_which_block_to_define(tmp_path: Path) -> None:
    with pytest.raises(TemplateProblem, match="sms text is empty"):
        _sms(tmp_path, "")


def test_an_edited_template_is_checked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from engine.messages import sandbox

    monkeypatch.setattr(sandbox, "RELOAD_CHECK_SECONDS", 0.0)  # look at the file every render
    renderer = _renderer(tmp_path, "ok")
    assert renderer.render(template="t", language="nl", tone="u", channel="sms", context={}).text
    deep = "{% for a in x %}{% for b in x %}{% for c in x %}.{% endfor %}{% endfor %}{% endfor %}"
    path = tmp_path / "nl" / "t.u.j2"
    path.write_text("{% extends layout %}{% block sms %}" + deep + "{% endblock %}", "utf-8")
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))  # a later mtime makes Jinja reload it
    with pytest.raises(TemplateRefused, match="nested 3 deep"):
        renderer.render(template="t", language="nl", tone="u", channel="sms", context={"x": [1]})


def test_an_edit_is_picked_up_after_the_reload_interval_not_on_every_render(
    tmp_path: Path,
) -> None:
    """Within RELOAD_CHECK_SECONDS the compiled template serves without looking at the file;
    after it the edit is rendered."""
    import os

    from engine.messages import sandbox

    renderer = _renderer(tmp_path, "old")
    render = functools.partial(
        renderer.render, template="t", language="nl", tone="u", channel="sms", context={}
    )
    assert render().text == "old"
    path = tmp_path / "nl" / "t.u.j2"
    path.write_text("{% extends layout %}{% block sms %}new{% endblock %}", "utf-8")
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))
    assert render().text == "old"
    time.sleep(sandbox.RELOAD_CHECK_SECONDS + 0.05)
    assert render().text == "new"


def test_deep_loops_in_a_parent_template_are_refused_too(tmp_path: Path) -> None:
    deep = "{% for a in x %}{% for b in x %}{% for c in x %}.{% endfor %}{% endfor %}{% endfor %}"
    renderer = _renderer(tmp_path, "ok", extra={"nl/_p.j2": "{% extends layout %}" + deep})
    (tmp_path / "nl" / "t.u.j2").write_text(
        '{% extends "nl/_p.j2" %}{% block sms %}ok{% endblock %}', encoding="utf-8"
    )
    with pytest.raises(TemplateRefused, match="nested 3 deep"):
        renderer.render(template="t", language="nl", tone="u", channel="sms", context={"x": [1]})


def test_a_dict_key_read_as_an_attribute_and_the_dicts_own_methods_keep_jinjas_meaning(
    tmp_path: Path,
) -> None:
    """`d.name` reads the key; a key named like a dict method does not hide the method, and a
    mutating one stays refused even when a key has its name."""
    shadowing = {"name": "Jan", "items": "x", "update": "y"}
    assert _sms(tmp_path, "{{ d.name }} {{ d.items()|list|length }}", d=shadowing) == "Jan 3"
    (tmp_path / "again").mkdir()
    with pytest.raises(TemplateRefused):
        _sms(tmp_path / "again", "{{ d.update({}) }}", d=shadowing)
