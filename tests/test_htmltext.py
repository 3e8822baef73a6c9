from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest
from selectolax.lexbor import LexborHTMLParser

from watcher.htmltext import (
    DEPTH_LIMIT,
    MarkupTooDeep,
    check_depth,
    html_to_text,
    plain_to_text,
)
from watcher.sources.liveblog import PageSelectors, parse_page

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
    ("<p>one<br><br>two</p>", "one\ntwo"),
    ("5 < 6 &amp; AT&T said <3", "5 < 6 & AT&T said <3"),
    ("<![CDATA[<b>x</b> &amp; y]]> z", "<b>x</b> & y z"),
    ('<a href="http://[x">odd</a>', "odd (http://[x)"),  # urljoin cannot read it
    ("<html><head><title>T</title><style>s</style></head><body><p>B</p></body></html>", "B"),
    ("<script>if (a<b) x='<p>'</script><p>after</p>", "after"),  # the regex lost "after"
]


@pytest.mark.parametrize(("markup", "text"), CASES)
def test_html_to_text(markup: str, text: str) -> None:
    assert html_to_text(markup, "https://example.org/live") == text


# Hostile markup: 200 KB of what made the old regex rescan to the end of the text for every
# tag; a quadratic reader would not finish these within the suite's timeout.

HOSTILE = [
    "<a x" * 50_000,
    "<!--" * 50_000,
    "<![CDATA[" * 23_000,
    "<a href='" * 23_000,
    "<p>" + "<b " * 70_000,
]


@pytest.mark.parametrize("tail", HOSTILE, ids=["a x", "comment", "cdata", "quote", "b"])
def test_unclosed_constructs_end_the_text_as_a_browser_has_it(tail: str) -> None:
    assert len(tail) >= 200_000
    assert html_to_text("<p>Putin said</p>" + tail) == "Putin said"


def test_json_ld_text_with_stray_brackets_is_read_in_linear_time() -> None:
    body = "Turnout < 50% " * 15_000 + "<a x" * 50_000
    assert html_to_text(body) == " ".join(["Turnout < 50%"] * 15_000)


def test_a_large_fragment_comes_out_whole() -> None:
    markup = "".join(f'<p>Entry {n} <a href="/e/{n}">link</a></p>' for n in range(20_000))
    text = html_to_text(markup, "https://example.org/live")
    paragraphs = text.split("\n\n")
    assert len(paragraphs) == 20_000
    assert paragraphs[-1] == "Entry 19999 link (https://example.org/e/19999)"


def test_threads_parse_apart() -> None:
    """Each thread parses into a document of its own."""
    markups = [f"<p>thread {n}</p><ul><li>{'x' * n}</li></ul>" for n in range(200)]
    with ThreadPoolExecutor(8) as pool:
        texts = list(pool.map(html_to_text, markups * 5))
    assert texts == [f"thread {n}\n\n{'x' * n}".rstrip() for n in range(200)] * 5


# Depth ----------------------------------------------------------------------------------

DEEP = 100_000


def test_deep_nesting_is_refused_before_parsing() -> None:
    with pytest.raises(MarkupTooDeep, match=f"HTML nested deeper than {DEPTH_LIMIT} elements"):
        html_to_text("<div>" * DEEP + "x")


@pytest.mark.parametrize("markup", ["<div>" * DEEP, ("<div>" * DEEP).encode()])
def test_parse_page_refuses_deep_pages(markup: str | bytes) -> None:
    with pytest.raises(ValueError, match="nested deeper"):
        parse_page(markup, "https://example.org/live", PageSelectors())


# Shapes a count of start and end tags misses: lexbor nests each one level or more a round.
TRICKS = {
    "self-closing div": "<div/>" * 2000,  # `/>` closes in SVG and MathML only
    "unknown self-closing": "<path/>" * 2000,
    "end tag a special element ignores": "<span><div></span></div>" * 2000,
    "ruby parts": "<rb>" * 2000,
    "ruby parts out of the ruby's scope": "<ruby><object>" + "<optgroup><rt><rb>" * 700,
    "optgroup": "<optgroup>" * 2000,
    "list items in definitions": "<li><dd>" * 2000,
    "list item under a list": "<li><ul></li>" * 2000,
    "form content": "<form><span></form>" * 2000,  # </form> takes the form out, not the span
    "noscript end tag": "<noscript><h2></noscript>" * 2000,
    "an end tag a paragraph ignores": "<object><g><g><p/>x</g></g>" * 600,
    "reopened formatting": "<div><b id=1></div>x" * 2000,
    "adoption": "<b><div></b>" * 2000,
    "HTML in SVG": "<svg><foreignObject><path/>" * 2000,
    "MathML title": "<math><title><style>" * 2000,  # SVG's title holds HTML, MathML's not
    "marquee under select": "<marquee><select></marquee>" * 2000,
}


@pytest.mark.parametrize("markup", TRICKS.values(), ids=TRICKS.keys())
def test_nesting_tricks_are_counted(markup: str) -> None:
    depth = real_depth(markup)
    assert depth > 1000
    with pytest.raises(MarkupTooDeep):
        check_depth(markup)
    with pytest.raises(MarkupTooDeep):  # the estimate is at least a third of the depth
        check_depth(markup, limit=depth // 3)


FINE = {
    "siblings": "<div><span>a</span></div>" * 5000,
    "unclosed paragraphs and items": "<ul>" + "<li><p>a" * 5000 + "</ul>",
    "an icon sprite": "<svg>" + '<path d="M0 0"/>' * 5000 + "</svg>",
    "tables": "<table><tr><td>a<td>b</table>" * 2000,
    "scripts": "<script>" + "document.write('<div>');" * 5000 + "</script>",
    "a stray end tag each": "<div></span></div>" * 5000,
    "deep but in limits": "<div>" * (DEPTH_LIMIT - 10) + "x" + "</div>" * (DEPTH_LIMIT - 10),
}


@pytest.mark.parametrize("markup", FINE.values(), ids=FINE.keys())
def test_real_page_shapes_pass(markup: str) -> None:
    check_depth(markup)
    check_depth(markup.encode())


def test_the_estimate_keeps_up_with_lexbor_on_tag_soup() -> None:
    """Random tag soup: lexbor nests it no deeper than three times the estimate."""
    rng = random.Random(7)
    names = [
        *("div", "span", "b", "i", "a", "p", "li", "ul", "dd", "dt", "table", "td", "tr"),
        *("option", "select", "optgroup", "ruby", "rt", "svg", "math", "mi", "desc"),
        *("foreignObject", "title", "g", "font", "nobr", "button", "form", "h1", "h2"),
        *("section", "template", "object", "marquee", "x", "textarea", "noscript", "br"),
    ]

    def token() -> str:
        name, roll = rng.choice(names), rng.random()
        if roll < 0.45:
            return f"<{name}>"
        if roll < 0.6:
            return f"<{name}/>"
        if roll < 0.8:
            return f"</{name}>"
        return f'<{name} id="{rng.randint(0, 3)}">' if roll < 0.9 else "x"

    checked = 0
    for _ in range(400):
        motif = "".join(token() for _ in range(rng.randint(1, 6)))
        markup = "".join(token() for _ in range(rng.randint(0, 5))) + motif * 150
        depth = real_depth(markup)
        if depth >= 30:
            checked += 1
            with pytest.raises(MarkupTooDeep):
                check_depth(markup, limit=depth // 3)
    assert checked > 50


def test_the_estimate_is_not_inflated_by_well_formed_markup() -> None:
    rng = random.Random(8)

    def tree(depth: int) -> str:
        if depth == 0 or rng.random() < 0.2:
            return rng.choice(["text", "<br>", "<img src=x>", "<b>bold</b>", "<p>para</p>"])
        name = rng.choice(["div", "section", "span", "blockquote", "em", "figure"])
        children = "".join(tree(depth - 1) for _ in range(rng.choice((1, 1, 2))))
        shape = rng.random()
        if shape < 0.1:
            return f"<table><tbody><tr><td>{children}</td></tr></tbody></table>"
        if shape < 0.2:
            return f"<ul><li>{children}</li></ul>"
        if shape < 0.25:
            return f'<svg><g><path d="M0"/>{"<g></g>" * 3}</g></svg>{children}'
        return f"<{name}>{children}</{name}>"

    for _ in range(100):
        markup = tree(rng.randint(3, 30)) * 20
        check_depth(markup, limit=real_depth(markup))


def real_depth(markup: str) -> int:
    """How deep lexbor nests the elements of <body>."""
    tree = LexborHTMLParser(markup)
    deepest = 0
    stack = [(tree.body, 0)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        child = node.first_child if node is not None else None
        while child is not None:
            if child.is_element_node:
                stack.append((child, depth + 1))
            child = child.next
    return deepest


# Text from sources is data -------------------------------------------------------------

CONTROLS = [
    ("<p>a\x1b]0;pwned\x07b</p>", "a]0;pwnedb"),  # a terminal's window title
    ("&#27;[2Jcleared", "[2Jcleared"),
    ("<p>invoice&#x202E;fdp.exe</p>", "invoicefdp.exe"),  # right-to-left override
    ("&#x2066;&#x2067;&#x2068;&#x2069;&#x202A;&lrm;&rlm;&#x61C;x", "x"),
    ("a\x00b\x01c<br>d", "abc\nd"),  # the old line marks: no break, nothing left
    ("a&#1;b&#x9d;c &#x85;", "abc …"),  # &#x85; means … in HTML
    ("a \x1b b", "a b"),
    ('<a href="https://e.org/&#x202E;x">t</a>', "t (https://e.org/x)"),
    ("<p>a\ud800b</p>", "ab"),  # a lone surrogate, from a JSON escape
    ("Pu&shy;tin 👩\u200d💻\u200b", "Pu\xadtin 👩\u200d💻\u200b"),  # kept for the matcher
]


@pytest.mark.parametrize(("markup", "text"), CONTROLS)
def test_control_and_bidi_characters_are_deleted(markup: str, text: str) -> None:
    assert html_to_text(markup) == text
    assert html_to_text(f"<div>{markup}</div>") == text


def test_plain_text_is_cleaned_the_same_way() -> None:
    raw = "a\x00b\x01c\x1b[31m\n\nd\u202ee \x1b f\udc00\n g\x7f\x9b"
    assert plain_to_text(raw) == "abc[31m\n\nde f\ng"
    assert plain_to_text("one\rtwo\x0bthree\x1cfour\x85five\r\nsix") == (
        "one two three four five\nsix"
    )
