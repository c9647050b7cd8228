"""genops.governance.redaction: secrets out of free text (an exception's message) before
the instrumentation sends it or the processor stores it; what is not secret is kept."""

from __future__ import annotations

import pytest

from genops.governance import redaction
from genops.governance.redaction import error_text, redact_text

WANDB_KEY = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"login failed for {WANDB_KEY}", "login failed for ***"),
        (f"key local-{WANDB_KEY}!", "key ***!"),
        ("password=hunter2hunter2 then", "password=*** then"),
        ("db_password: 's3cr3t-value'", "db_password: '***'"),
        ('{"api_key": "abcd1234efgh"}', '{"api_key": "***"}'),
        ("WANDB_API_KEY=xyz987654321", "WANDB_API_KEY=***"),
        ("header Authorization: Bearer abc.def.ghi", "header Authorization: *** ***"),
        ("sent Bearer tok_1234567890", "sent Bearer ***"),
        ("https://user:pa55w0rd@host/path", "https://user:***@host/path"),
        ("openai said sk-ABCDEFGHIJKLMNOPQRST", "openai said ***"),
        ("gh ghp_ABCDEFGHIJKLMNOPQRSTUVWX1234", "gh ***"),
        ("aws AKIAABCDEFGHIJKLMNOP here", "aws *** here"),
        ("jwt eyJhbGciOiJI.eyJzdWIiOiIx.c2lnbmF0dXJl", "jwt ***"),
    ],
)
def test_secret_shapes_are_redacted(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "CUDA out of memory: tried to allocate 2.00 GiB",
        "diverged at step 5 (loss=nan)",
        "token expired",  # a word, no value
        "https://example.com/path?x=1",
        "tokens: 512 > max 256",
        "max_tokens=2048 is over the limit",
        "",
    ],
)
def test_ordinary_error_text_is_kept(text):
    assert redact_text(text) == text


def test_known_and_remembered_values_are_taken_out_anywhere_in_the_text():
    assert redact_text("pre-KNOWNVALUE123-post", known=["KNOWNVALUE123"]) == "pre-***-post"
    assert redact_text("short abc", known=["abc"]) == "short abc"  # too short to search
    redaction.remember("REMEMBERED-SECRET-42")
    assert redact_text("x REMEMBERED-SECRET-42 y") == "x *** y"


def test_error_text_keeps_the_exception_type():
    error = RuntimeError(f"upload failed: password=abc12345 key {WANDB_KEY}")
    assert error_text(error) == "RuntimeError: upload failed: password=*** key ***"
