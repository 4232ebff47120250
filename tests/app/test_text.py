"""ui/text.py: user text made inert for markdown, cut to one short line, the whole of it on demand."""

from __future__ import annotations

import re

import pytest

from tests.app.conftest import unescaped
from ui.text import SHORT_LENGTH, code, dataset_name, is_cut, one_line, plain

HOSTILE = "**bold** <img src=x onerror=alert(1)> ![t](http://127.0.0.1:9/t.png) $$x^2$$ :red[red]"


def test_every_markup_character_is_escaped_and_reads_back_as_typed() -> None:
    shown = plain(HOSTILE)
    assert re.search(r"(?<!\\)[*<>!\[\]()$:_`#|~-]", shown.replace("\u200b", "")) is None, shown
    assert unescaped(shown).replace("\u200b", "") == HOSTILE


def test_bare_addresses_cannot_become_links() -> None:
    assert "http\u200b\\:" in plain("see http://example.com")
    assert "www\u200b\\." in plain("www.example.com")
    assert "a\u200b\\@b" in plain("mail a@b.example")


@pytest.mark.parametrize("comment", ["# Heading line\nsecond line", "    indented code", "- a list\n- item",
                                     "1. first"])
def test_line_starts_cannot_make_blocks(comment: str) -> None:
    shown = plain(comment)
    assert "\n" not in shown and not shown.startswith(" ")
    assert not re.match(r"[#\-\d]+[.\s]", shown), shown


def test_long_and_multiline_comments_are_cut_with_the_full_text_on_demand() -> None:
    long = "x" * (SHORT_LENGTH + 20)
    assert one_line(long, SHORT_LENGTH) == "x" * (SHORT_LENGTH - 1) + "…"
    assert dataset_name(long) == "x" * (SHORT_LENGTH - 1) + "…"
    assert is_cut(long) and is_cut("two\nlines") and not is_cut("short")
    assert dataset_name(None) == dataset_name("  ") == "(no comment)"


def test_code_spans_hold_any_text_but_a_backtick() -> None:
    assert code("id`with`ticks") == "`id'with'ticks`"
