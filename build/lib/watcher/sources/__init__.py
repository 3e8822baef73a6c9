"""Source kinds, registered here and nowhere else.

A new kind is one module with a config model (a SourceConfig with its own key, such as
`feed:`) and a SourceKind; add both to KINDS and to AnySourceConfig below.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, Tag

from watcher.sources.base import SourceConfig, SourceContext, SourceKind
from watcher.sources.feed import FeedSource, FeedSourceConfig
from watcher.sources.file import FileSource, FileSourceConfig
from watcher.sources.page import PageSource, PageSourceConfig

# The config key that names a source's kind -> (config model, implementation).
KINDS: dict[str, tuple[type[SourceConfig], type[SourceKind]]] = {
    "file": (FileSourceConfig, FileSource),
    "feed": (FeedSourceConfig, FeedSource),
    "page": (PageSourceConfig, PageSource),
}
TAG_SUFFIX = " source"  # pydantic puts the tag in error locations; config.py drops it


def _discriminate(value: Any) -> str | None:
    if isinstance(value, SourceConfig):
        return kind_of(value) + TAG_SUFFIX
    if isinstance(value, dict):
        present = [key for key in KINDS if key in value]
        return present[0] + TAG_SUFFIX if len(present) == 1 else None
    return None


AnySourceConfig = Annotated[
    Annotated[FileSourceConfig, Tag("file" + TAG_SUFFIX)]
    | Annotated[FeedSourceConfig, Tag("feed" + TAG_SUFFIX)]
    | Annotated[PageSourceConfig, Tag("page" + TAG_SUFFIX)],
    Discriminator(
        _discriminate,
        custom_error_type="source_kind",
        custom_error_message=f"a source needs exactly one of the keys: {', '.join(KINDS)}",
    ),
]


def kind_of(config: SourceConfig) -> str:
    return next(key for key, (model, _) in KINDS.items() if isinstance(config, model))


def build(config: SourceConfig, context: SourceContext) -> SourceKind:
    return KINDS[kind_of(config)][1](config, context)
