from __future__ import annotations

import pytest

from watcher.htmltext import html_to_text

CASES = [
    ("<p>One.</p><p>Two.</p>", "One.\n\nTwo."),
    ("a<br>b<br/>c", "a\nb\nc"),
    ('Said <a href="https://reuters.com">Reuters</a>.', "Said Reuters (https://reuters.com)."),
    ('<a href="/x">here</a>', "here (https://example.org/x)"),
    ('<a href="https://e.org/">https://e.org</a>', "https://e.org"),
    ('<a href="#top">top</a> <a href="mailto:a@b">mail</a>', "top mail"),
    ("<script>var p = '<p>';</script><style>p{}</style>Text", "Text"),
    ("Tom &amp; Jerry &lt;3 &eacute;", "Tom & Jerry <3 é"),
    ("  lots \n of\t\tspace  ", "lots of space"),
    ("<ul><li>one</li><li>two</li></ul>", "one\n\ntwo"),
    ("<p>Kyiv <b>and</b> <i>Moscow</i></p>", "Kyiv and Moscow"),
    ("<!-- hidden --><p>shown</p>", "shown"),
    ("<div><p></p><p>  </p></div>", ""),
    ("Unclosed <b>bold", "Unclosed bold"),
]


@pytest.mark.parametrize(("markup", "text"), CASES)
def test_html_to_text(markup: str, text: str) -> None:
    assert html_to_text(markup, "https://example.org/live") == text
