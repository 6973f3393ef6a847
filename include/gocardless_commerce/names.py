"""Merchant ids and names: checked where they enter, escaped where they are shown.

A user id becomes part of an Airflow DAG id (``gocardless_sync__<user id>``), so it must be
one Airflow accepts; anything else would make the DAG build raise. A merchant's name is
data typed by a person (or an OAuth peer): it may hold Markdown, HTML or terminal control
characters, so it is refused when it carries characters no name needs, and escaped for the
medium wherever it is rendered. Pure functions, no imports above the standard library: the
registry, the CLI and the DAG factory (at parse time) all use them.
"""

from __future__ import annotations

import re

#: The sync DAG id is this prefix plus the user id (orchestration.dag_factory uses it).
DAG_ID_PREFIX = "gocardless_sync__"
#: Airflow's limit on a DAG id (``airflow.models.base.ID_LEN``).
AIRFLOW_ID_MAX_LENGTH = 250
USER_ID_MAX_LENGTH = AIRFLOW_ID_MAX_LENGTH - len(DAG_ID_PREFIX)
#: Long enough for any legal company name, short enough for a title bar and a log line.
NAME_MAX_LENGTH = 200

# Airflow's DAG-id rule is ``^[\w.-]+$``; ASCII only here, because ``\w`` would admit letters
# that a terminal, a URL or a log search renders differently from what the operator typed.
_USER_ID = re.compile(r"[A-Za-z0-9_.-]+")
# Bidirectional overrides and isolates can make a name display in another order than stored.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


class InvalidNameError(ValueError):
    """A user id or merchant name that the pipeline cannot use; the message says why."""


# Control characters (Unicode category Cc), line and paragraph separators (Zl, Zp) and bidi
# controls: never part of a name. A regex, not unicodedata per character: the DAG factory runs
# this for every merchant at every parse.
#: The characters no name may hold, as the inside of a regex character class.
CONTROL_CHARACTERS = "\x00-\x1f\x7f-\x9f\u2028\u2029" + "".join(sorted(_BIDI_CONTROLS))
_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")


def _is_control(char: str) -> bool:
    return _CONTROL.fullmatch(char) is not None


def validate_user_id(user_id: object) -> str:
    """Return ``user_id`` if it can be part of an Airflow DAG id, else raise a clear error."""
    if not isinstance(user_id, str) or not user_id:
        raise InvalidNameError("A user id must not be empty.")
    if len(user_id) > USER_ID_MAX_LENGTH:
        raise InvalidNameError(
            f"User id is {len(user_id)} characters long; at most {USER_ID_MAX_LENGTH} fit in an "
            f"Airflow DAG id ({AIRFLOW_ID_MAX_LENGTH} with the prefix {DAG_ID_PREFIX!r})."
        )
    if not _USER_ID.fullmatch(user_id):
        bad = sorted({c for c in user_id if not _USER_ID.fullmatch(c)})
        raise InvalidNameError(
            f"User id {terminal_safe(user_id)!r} has characters an Airflow DAG id cannot hold "
            f"({', '.join(repr(c) for c in bad)}); use ASCII letters, digits, '_', '.' and '-'."
        )
    return user_id


def validate_merchant_name(name: object) -> str:
    """Return the name with outer blanks removed, or raise if it is empty, too long or holds
    control characters (a newline in a name could forge lines in a listing or a log)."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidNameError("A merchant name must not be empty.")
    name = name.strip()
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidNameError(f"Merchant name is {len(name)} characters long; at most {NAME_MAX_LENGTH} are allowed.")
    controls = sorted({c for c in name if _is_control(c)})
    if controls:
        raise InvalidNameError(
            f"Merchant name {terminal_safe(name)!r} holds control characters "
            f"({', '.join(_escaped(c) for c in controls)}); names are one line of plain text."
        )
    return name


def _escaped(char: str) -> str:
    """A character as a visible escape (``\\n``, ``\\x1b``, ``\\u202e``)."""
    return char.encode("unicode_escape").decode("ascii") if char != "\\" else "\\\\"


def terminal_safe(text: str) -> str:
    """``text`` with every control character shown as an escape, so it prints on one line and
    cannot move the cursor, colour the terminal or forge a line of output."""
    return _CONTROL.sub(lambda found: _escaped(found.group()), text)


def markdown_code(text: str) -> str:
    """``text`` as literal Markdown: a code span, fenced with more backticks than any run it holds
    (so a backtick in it cannot close the span early), control characters shown as escapes (no
    new block can start). Inside a code span nothing is markup: no heading, emphasis, link, raw
    HTML, and no URL turned into a link by a renderer's autolinking (which backslash escapes do
    not prevent)."""
    text = terminal_safe(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}" if longest else f"{fence}{text}{fence}"
