"""How deep a document's elements nest, found before any parser builds it.

lexbor's own worst case is depth: its tree builder walks the stack of open elements for
most tags, so 100,000 nested elements take a minute. `check_depth` refuses markup nested
deeper than DEPTH_LIMIT from one linear scan that follows the tree builder's rules for
what opens and closes an element.
"""

from __future__ import annotations

import html
import re

# Real live blogs nest 11-26 deep. At 256, a tag costs lexbor about 1 µs, ten times what
# it costs at the top of the stack.
DEPTH_LIMIT = 256


class MarkupTooDeep(ValueError):
    """HTML whose elements nest too deeply for the parser to build in reasonable time."""


def check_depth(markup: str | bytes, limit: int = DEPTH_LIMIT) -> None:
    """Raises MarkupTooDeep if the markup's elements may nest more than `limit` deep.

    lexbor's tree builder walks its stack of open elements for most tags, so a document
    costs its depth times its tags: 100,000 nested elements take a minute. A document of
    no more tags than `limit` is cheap however it nests, and passes without a look; others
    are scanned once, in linear time, with the tree builder's rules for what opens and
    closes an element. Where the rules are simplified the estimate errs deep: it is within
    one of lexbor's depth on real pages, and at least a third of it on every trick and
    tag soup tried (tests/test_htmltext.py checks them against lexbor).
    """
    # Tags are ASCII: latin-1 reads any bytes, one character each, without a decoder.
    text = markup.decode("latin-1") if isinstance(markup, bytes) else markup
    if text.count("<") <= limit:
        return
    nesting = _Nesting(limit)
    pos = 0
    while (tag := _TAG.search(text, pos)) is not None:
        comment, slash, name, attributes, self_closing, closed = tag.groups()
        if comment:
            end = _COMMENT_END.search(text, tag.start() + 2)  # from "<!" so "<!-->" ends
            if end is None:
                return
            pos = end.end()
            continue
        if not closed:  # the tag, or a quoted value in it, runs to the end
            return
        pos = tag.end()
        name = name.lower()
        if slash:
            nesting.end(name)
        elif name in _RAW_TEXT and nesting.in_html():
            end = _RAW_TEXT[name].search(text, pos)
            if end is None:
                return
            pos = end.end()
        elif name == "plaintext" and nesting.in_html():
            return
        else:
            nesting.start(name, attributes, bool(self_closing))


# The tree builder's categories (HTML Standard 13.2.4.2, 13.2.6). Where _Nesting
# simplifies, it errs toward deeper: special and scope-bounding elements are recognised
# by name alone, in any namespace.
_VOID = frozenset(
    (
        *("area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr"),
        *("image", "img", "input", "keygen", "link", "meta", "param", "source", "track"),
        "wbr",
    )
)
# Elements that close their open sibling or are ignored out of place, so add at most one
# level to what does count (checked with lexbor), and the document's own.
_NOT_NESTING = _VOID | frozenset(
    (
        *("option", "tr", "td", "th", "thead", "tbody", "tfoot", "caption"),
        *("colgroup", "html", "head", "body", "frameset"),
    )
)
# <li> closes the open li, <dd> or <dt> the open dd or dt, unless a special element other
# than address, div or p is open above it: so <li><dd><li><dd>... nests.
_ITEMS = {"li": ("li",), "dd": ("dd", "dt"), "dt": ("dd", "dt")}
_NOT_ITEM_BOUNDS = frozenset(("address", "div", "p"))
_RUBY = frozenset(("rb", "rp", "rt", "rtc"))
_IMPLIED_END = frozenset(("dd", "dt", "li", "optgroup", "p", *_RUBY))
# Start tags that close the current <p> (not <table>: it does only in no-quirks mode).
_CLOSES_P = frozenset(
    (
        *("address", "article", "aside", "blockquote", "center", "details", "dialog"),
        *("dir", "div", "dl", "fieldset", "figcaption", "figure", "footer", "header"),
        *("hgroup", "main", "menu", "nav", "ol", "p", "search", "section", "summary"),
        *("ul", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "listing", "form", "li"),
        *("dd", "dt", "plaintext", "hr", "xmp"),
    )
)
_CLOSES_ITS_OWN = frozenset(("a", "nobr", "button", "select"))  # <a> in <a> ends the first
_FORMATTING = frozenset(
    (
        *("a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike"),
        *("strong", "tt", "u"),
    )
)
_SVG_INTEGRATION = frozenset(("foreignobject", "desc", "title"))
_MATH_INTEGRATION = frozenset(("mi", "mo", "mn", "ms", "mtext"))
_SCOPE = (
    _SVG_INTEGRATION
    | _MATH_INTEGRATION
    | frozenset(("annotation-xml", "applet", "caption", "html", "table", "td", "th"))
    | frozenset(("marquee", "object", "template"))
)
_SPECIAL = (
    _SCOPE
    | _VOID
    | frozenset(
        (
            *("address", "article", "aside", "blockquote", "body", "button", "center"),
            *("colgroup", "dd", "details", "dir", "div", "dl", "dt", "fieldset"),
            *("figcaption", "figure", "footer", "form", "frameset", "h1", "h2", "h3"),
            *("h4", "h5", "h6", "head", "header", "hgroup", "iframe", "li", "listing"),
            *("main", "menu", "nav", "noembed", "noframes", "noscript", "ol", "p"),
            *("plaintext", "pre", "script", "search", "section", "select", "style"),
            *("summary", "tbody", "textarea", "tfoot", "thead", "tr", "ul", "xmp"),
        )
    )
)
# End tags that close their element if it is in scope, whatever is open above it; any
# other end tag is ignored when a special element is open above its element.
_SCOPED_END = frozenset(
    (
        *("address", "article", "aside", "blockquote", "button", "center", "details"),
        *("dialog", "dir", "div", "dl", "fieldset", "figcaption", "figure", "footer"),
        *("header", "hgroup", "listing", "main", "menu", "nav", "ol", "pre", "search"),
        *("section", "summary", "ul", "li", "dd", "dt", "h1", "h2", "h3", "h4", "h5"),
        *("h6", "applet", "marquee", "object", "template", "table", "select"),
    )
)
# Scope boundaries of their own: a list opened since keeps an <li> open (list item scope),
# and in lexbor, a <select> bounds these.
_ALSO_BOUNDED_BY = {
    "li": ("ol", "ul"),
    **dict.fromkeys(("applet", "marquee", "object", "ruby"), ("select",)),
}
# HTML start tags that end SVG or MathML content (and <font color|face|size>).
_BREAKOUT = frozenset(
    (
        *("b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl"),
        *("dt", "em", "embed", "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i"),
        *("img", "li", "listing", "menu", "meta", "nobr", "ol", "p", "pre", "ruby", "s"),
        *("small", "span", "strong", "strike", "sub", "sup", "table", "tt", "u", "ul"),
        "var",
    )
)
_RAW_TEXT = {
    name: re.compile(rf"</{name}[\t\n\f\r />]", re.I)
    for name in ("script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes")
}
# The tokenizer's attributes: a name, then perhaps `=` and a value. Quantifiers are
# possessive, so nothing is scanned twice; an unclosed quote runs to the end, once.
_NAME = r"[^\t\n\f\r />][^\t\n\f\r />=]*+"
_VALUE = r"[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:\"[^\"]*+\"?|'[^']*+'?|[^\t\n\f\r >]*+)"
_TAG = re.compile(
    rf"<(?:(!--)|(/?)([A-Za-z][^\t\n\f\r />]*+)"
    rf"((?:[\t\n\f\r ]++|/(?!>)|{_NAME}(?:{_VALUE})?)*+)(/?)(>?))"
)
_ATTRIBUTE = re.compile(rf"({_NAME})((?:{_VALUE})?)")
_COMMENT_END = re.compile(r"--!?>")
_HTML, _SVG, _MATH, _ANNOTATION = "html", "svg", "math", "annotation"  # how content parses


class _Nesting:
    """The stack of open elements, as the tree builder would keep it, for counting.

    Start tags push, except those that never nest; an end tag pops down to its element
    unless the tree builder would ignore it. A formatting element closed by another's end
    tag stays counted: the tree builder reopens it at the next text, and what follows
    nests in it. SVG and MathML are told apart, as `/>` closes there and not in HTML.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.names: list[str] = []
        self.foreign: list[bool] = []
        self.inside: list[str] = []  # how each element's content is parsed
        self.at: dict[str, list[int]] = {}  # where each name is open in `names`
        self.specials: list[int] = []
        self.item_bounds: list[int] = []  # special elements that end an <li>'s search
        self.bounds: list[int] = []  # scope boundaries
        self.formatting: set[int] = set()
        self.reopened = 0
        # <p>s in `names`, uncounted, for the end tags they block. Whether <table> (say)
        # closes a <p> depends on the document's mode, so a <p> is only known closed when
        # it is the current element: else it stays until its parent closes.
        self.paragraphs = 0

    def in_html(self) -> bool:
        return not self.inside or self.inside[-1] == _HTML

    # One branch per rule of the tree builder's (HTML Standard 13.2.6): split, they would
    # no longer read against the standard.
    def start(self, name: str, attributes: str, self_closing: bool) -> None:  # noqa: C901, PLR0912
        if not self.in_html():
            if name in _BREAKOUT or (
                name == "font" and {"color", "face", "size"} & _attributes(attributes).keys()
            ):
                while not self.in_html():
                    self._pop_to(len(self.names) - 1)
            elif not (name == "svg" and self.inside[-1] == _ANNOTATION):
                if not self_closing:
                    self._push(name, True, _foreign_content(self.inside[-1], name, attributes))
                return
        if name in _CLOSES_P and self.names[-1:] == ["p"]:
            self._pop_to(len(self.names) - 1)
        if name in ("svg", "math"):
            if not self_closing:
                self._push(name, True, _SVG if name == "svg" else _MATH)
        elif name == "p":
            self._push(name, False, _HTML)
        elif name in _NOT_NESTING:
            return
        else:
            if name in _RUBY and self._in_scope("ruby"):  # an rt ends the last rt, li...
                ends = _IMPLIED_END - {"rtc"} if name in ("rt", "rp") else _IMPLIED_END
                while self.names[-1] in ends:
                    self._pop_to(len(self.names) - 1)
            elif name in _ITEMS:
                open_ = [self.at[n][-1] for n in _ITEMS[name] if self.at.get(n)]
                if open_ and not (self.item_bounds and self.item_bounds[-1] > max(open_)):
                    self._pop_to(max(open_))
            elif (
                name == "optgroup" and self.names[-1:] == ["optgroup"] and self._in_scope("select")
            ):
                self._pop_to(len(self.names) - 1)  # in a select, one optgroup ends the last
            elif name in _CLOSES_ITS_OWN and self.end(name) and name == "select":
                return  # a second <select> only closes the first
            self._push(name, False, _HTML)
            if name in _FORMATTING:
                self.formatting.add(len(self.names) - 1)
            elif name == "table":  # and the tbody, tr and td the tree builder adds for a cell
                for _ in range(3):
                    self._push(" ", False, _HTML)

    def end(self, name: str) -> bool:
        """Whether the end tag closes an element."""
        if name in ("p", "br"):  # in SVG or MathML, they end it
            while not self.in_html():
                self._pop_to(len(self.names) - 1)
            if name == "p" and self.names[-1:] == ["p"]:
                self._pop_to(len(self.names) - 1)
            return False
        where = self.at.get(name)
        if not where:
            return False
        i = where[-1]
        top = len(self.names) - 1
        if self.foreign[i] or name == "form":  # </form> takes the form out, not its content
            blocked = i != top
        elif name in _SCOPED_END:
            blocked = not self._in_scope(name)
        else:
            blocked = bool(self.specials) and self.specials[-1] > i
        if not blocked:
            self._pop_to(i)
        return not blocked

    def _in_scope(self, name: str) -> bool:
        """Whether the last `name` opened is open with no scope boundary above it."""
        where = self.at.get(name)
        if not where:
            return False
        i = where[-1]
        if self.bounds and self.bounds[-1] > i:
            return False
        return not any(
            self.at.get(n) and self.at[n][-1] > i for n in _ALSO_BOUNDED_BY.get(name, ())
        )

    def _push(self, name: str, foreign: bool, inside: str) -> None:
        i = len(self.names)
        self.names.append(name)
        self.foreign.append(foreign)
        self.inside.append(inside)
        self.at.setdefault(name, []).append(i)
        if name in _SPECIAL:
            self.specials.append(i)
            if name not in _NOT_ITEM_BOUNDS:
                self.item_bounds.append(i)
        if name in _SCOPE:
            self.bounds.append(i)
        self.paragraphs += name == "p"
        if i + 1 - self.paragraphs + self.reopened > self.limit:
            raise MarkupTooDeep(f"HTML nested deeper than {self.limit} elements")

    def _pop_to(self, i: int) -> None:
        """Pops the element at `i` and all above it."""
        names = self.names
        while len(names) > i:
            name = names.pop()
            self.foreign.pop()
            self.inside.pop()
            self.at[name].pop()
            self.paragraphs -= name == "p"
            if len(names) in self.formatting:
                self.formatting.remove(len(names))
                self.reopened += len(names) > i
        for where in (self.specials, self.item_bounds, self.bounds):
            while where and where[-1] >= i:
                where.pop()


def _foreign_content(namespace: str, name: str, attributes: str) -> str:
    """How the content of an SVG or MathML element is parsed: integration points hold
    HTML; annotation-xml holds HTML if it says so, else MathML and SVG."""
    if namespace == _SVG:
        return _HTML if name in _SVG_INTEGRATION else _SVG
    if name in _MATH_INTEGRATION:
        return _HTML
    if name == "annotation-xml":
        encoding = html.unescape(_attributes(attributes).get("encoding", "")).lower()
        return _HTML if encoding in ("text/html", "application/xhtml+xml") else _ANNOTATION
    return _MATH


def _attributes(attributes: str) -> dict[str, str]:
    """Attribute names (lower case) and values, as the tokenizer reads them."""
    found: dict[str, str] = {}
    for name, assigned in _ATTRIBUTE.findall(attributes):
        value = assigned.split("=", 1)[1].lstrip("\t\n\f\r ") if assigned else ""
        if value[:1] in ('"', "'"):  # quoted, perhaps unclosed
            value = value[1:-1] if len(value) > 1 and value[-1] == value[0] else value[1:]
        found.setdefault(name.lower(), value)
    return found
