"""Merchant ids and names: refused at the edge when Airflow or a reader could not cope with
them, escaped wherever they are rendered (Markdown, terminal)."""

from __future__ import annotations

import pytest

from gocardless_commerce.names import (
    NAME_MAX_LENGTH,
    USER_ID_MAX_LENGTH,
    InvalidNameError,
    markdown_code,
    terminal_safe,
    validate_merchant_name,
    validate_user_id,
)


@pytest.mark.parametrize("user_id", ["acme", "acme-ltd.uk_2", "A" * USER_ID_MAX_LENGTH])
def test_ids_airflow_accepts_pass(user_id):
    assert validate_user_id(user_id) == user_id


@pytest.mark.parametrize(
    "user_id, message",
    [
        ("", "must not be empty"),
        (None, "must not be empty"),
        ("acme ltd", "' '"),
        ("acme/ltd", "'/'"),
        ("acme'ltd", '"\'"'),
        ('acme"ltd', "'\"'"),
        ("acme\nltd", "'\\n'"),
        ("café", "'é'"),
        ("A" * (USER_ID_MAX_LENGTH + 1), f"at most {USER_ID_MAX_LENGTH}"),
    ],
)
def test_ids_airflow_rejects_are_refused_with_the_reason(user_id, message):
    with pytest.raises(InvalidNameError) as error:
        validate_user_id(user_id)
    assert message in str(error.value)
    assert "\n" not in str(error.value)  # the message itself stays one line


def test_every_accepted_id_is_a_dag_id_airflow_accepts():
    from airflow.sdk import DAG

    for user_id in ("acme", "x" * USER_ID_MAX_LENGTH, "a.b-c_d"):
        DAG(dag_id=f"gocardless_sync__{validate_user_id(user_id)}", schedule=None)


@pytest.mark.parametrize("name", ["Acme Ltd", "Café Zürich & Söhne <GmbH>", "[Reset](https://x.example) **bold**"])
def test_names_with_punctuation_or_markup_are_kept_as_typed(name):
    assert validate_merchant_name(f"  {name} ") == name


@pytest.mark.parametrize(
    "name, message",
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("Acme\nOK  CONNECTED  forged", "\\n"),
        ("Acme\x1b[2J", "\\x1b"),
        ("Acme\u202eevil", "\\u202e"),
        ("Acme\u2028Ltd", "\\u2028"),
        ("N" * (NAME_MAX_LENGTH + 1), f"at most {NAME_MAX_LENGTH}"),
    ],
)
def test_names_with_control_characters_or_too_long_are_refused(name, message):
    with pytest.raises(InvalidNameError) as error:
        validate_merchant_name(name)
    assert message in str(error.value)
    assert "\n" not in str(error.value) and "\x1b" not in str(error.value)


def test_terminal_safe_keeps_text_on_one_line_and_shows_the_escapes():
    assert terminal_safe("Acme\nforged\x1b[31m\u202e") == "Acme\\nforged\\x1b[31m\\u202e"
    assert terminal_safe("Café — Ltd") == "Café — Ltd"


def _html(markdown_source: str) -> str:
    """CommonMark rendering (markdown-it, GFM-like 'linkify' on), as a UI would render it."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"linkify": True}).enable(["linkify", "table", "strikethrough"]).render(markdown_source)


@pytest.mark.parametrize(
    "name",
    [
        "# Heading\n[Reset your token](https://evil.example)",
        "[Reset your token](https://evil.example) <img src=x onerror=alert(1)>",
        "**bold** _em_ ~~gone~~ <b>html</b> &amp; https://evil.example www.evil.example a@evil.example",
        "a\\*b | c | d ``x`` `",
    ],
)
def test_markdown_code_renders_as_the_literal_characters(name):
    import html

    rendered = _html(f"Sync of {markdown_code(name)}")
    for tag in ("<a", "<h1", "<img", "<em", "<strong", "<s>", "<del", "<b>", "<table"):
        assert tag not in rendered
    # What a reader sees is the name as typed (control characters as visible escapes).
    assert html.unescape(rendered) == f"<p>Sync of <code>{terminal_safe(name)}</code></p>\n"


def test_markdown_code_cannot_be_closed_early_by_a_backtick():
    rendered = _html(f"id {markdown_code('OR`1 [x](https://evil.example)')}")
    assert "<a" not in rendered and "<code>OR`1 [x](https://evil.example)</code>" in rendered
