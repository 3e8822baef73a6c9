"""Source kinds, registered here and nowhere else.

A new kind is one module with a config model (a SourceConfig with its own key, such as
`file:`) and a SourceKind; add both below.
"""

from __future__ import annotations

from watcher.sources.base import SourceConfig, SourceContext, SourceKind
from watcher.sources.file import FileSource, FileSourceConfig

# The config key that names a source's kind -> (config model, implementation).
KINDS: dict[str, tuple[type[SourceConfig], type[SourceKind]]] = {
    "file": (FileSourceConfig, FileSource),
}

AnySourceConfig = FileSourceConfig


def kind_of(config: SourceConfig) -> str:
    return next(key for key, (model, _) in KINDS.items() if isinstance(config, model))


def build(config: SourceConfig, context: SourceContext) -> SourceKind:
    return KINDS[kind_of(config)][1](config, context)
