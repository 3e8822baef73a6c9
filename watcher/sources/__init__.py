"""Source kinds. Each is one module whose SourceKind names its config key and model
(base.SourceKind registers it); importing the module below is all it takes to add one.
The config's union of source models and `build` are derived from the registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Discriminator, Tag

from watcher.sources import feed, file, page  # noqa: F401  (each registers its kind)
from watcher.sources.base import KINDS, SourceConfig, SourceContext, SourceKind

TAG_SUFFIX = " source"  # pydantic puts the tag in error locations; config.py drops it


def _discriminate(value: Any) -> str | None:
    if isinstance(value, SourceConfig):
        return kind_of(value) + TAG_SUFFIX
    if isinstance(value, dict):
        present = [key for key in KINDS if key in value]
        return present[0] + TAG_SUFFIX if len(present) == 1 else None
    return None


if TYPE_CHECKING:
    AnySourceConfig = SourceConfig
else:
    AnySourceConfig = Annotated[
        Union[  # noqa: UP007  (a union built from the registry, at run time)
            tuple(Annotated[k.model, Tag(key + TAG_SUFFIX)] for key, k in KINDS.items())
        ],
        Discriminator(
            _discriminate,
            custom_error_type="source_kind",
            custom_error_message=f"a source needs exactly one of the keys: {', '.join(KINDS)}",
        ),
    ]


def kind_of(config: SourceConfig) -> str:
    return next(key for key, kind in KINDS.items() if isinstance(config, kind.model))


def build(config: SourceConfig, context: SourceContext) -> SourceKind:
    return KINDS[kind_of(config)](config, context)
