"""User text (dataset comments) shown as text, never as markdown or HTML.

Streamlit reads markdown in titles, captions, alerts, dialogs and toasts: a comment could otherwise fake
headings and colours, typeset LaTeX or make every viewer's browser fetch a remote image. `plain` escapes
every ASCII punctuation character (CommonMark's backslash escapes), which also defuses Streamlit's own
`:red[...]` and `:material/...:` directives, and breaks the bare addresses GFM would make links;
whitespace collapses to single spaces, so a line break or indent cannot start a heading, a list or a
code block. Long text is cut (`SHORT_LENGTH`) with the full
text on demand (`full_text`), shown by `st.text`, which renders no markup at all.
"""

from __future__ import annotations

import re
import string

import streamlit as st

SHORT_LENGTH = 80
NO_COMMENT = "(no comment)"
_ESCAPES = str.maketrans({character: "\\" + character for character in string.punctuation})
# GFM turns bare addresses into links whatever the escapes ("http://...", "www.", "name@host"): a
# zero-width space before "://", after "www" and before "@" keeps them text (and invisible).
_AUTOLINKS = re.compile(r"(?=://)|(?<=www)(?=\.)|(?=@)", re.IGNORECASE)
_ZERO_WIDTH_SPACE = "\u200b"


def one_line(text: str, limit: int | None = None) -> str:
    """The text on one line (whitespace collapsed), cut to `limit` characters with "…" if longer."""
    line = " ".join(text.split())
    if limit is not None and len(line) > limit:
        return line[: limit - 1].rstrip() + "…"
    return line


def plain(text: str, limit: int | None = None) -> str:
    """Text for a markdown context, on one line, with nothing in it read as markup."""
    return _AUTOLINKS.sub(_ZERO_WIDTH_SPACE, one_line(text, limit)).translate(_ESCAPES)


def dataset_name(comment: str | None, limit: int = SHORT_LENGTH) -> str:
    """A dataset's comment as its name inside markdown (quoted by the caller): short and plain."""
    return plain(comment, limit) if comment and comment.strip() else NO_COMMENT


def is_cut(text: str | None, limit: int = SHORT_LENGTH) -> bool:
    """Whether `dataset_name` shows less than the whole text (longer, or more than one line)."""
    return bool(text) and (len(one_line(text)) > limit or one_line(text) != text.strip())


def full_text(text: str | None, limit: int = SHORT_LENGTH, label: str = "Full comment") -> None:
    """An expander holding the whole text as plain text, when `dataset_name` cut it."""
    if text and is_cut(text, limit):
        with st.expander(label):
            st.text(text)


def comment_heading(comment: str | None, heading=st.title, limit: int = SHORT_LENGTH, **options) -> None:
    """A dataset's comment as a heading (`st.title`, `st.subheader`, ...): one plain line, cut at `limit`;
    the full comment in an expander below when it was cut."""
    heading(dataset_name(comment, limit), **options)


def code(text: str) -> str:
    """Text as inline code inside markdown (an id, an address): nothing in a code span is markup, so only
    a backtick, which would end it, is replaced."""
    return "`" + one_line(text).replace("`", "'") + "`"
