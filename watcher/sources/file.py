"""`file:` sources: live blogs in the plain-text seed format, one per file.

`file:` takes a path or a glob. Each file matched is a target of its own, named
`<source>/<path below the glob's fixed folder>`, so files added later are picked up.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import Field

from watcher.model import Snapshot, Target
from watcher.sources import textblog
from watcher.sources.base import (
    Fetched,
    Parser,
    SourceConfig,
    SourceError,
    SourceKind,
)


class FileSourceConfig(SourceConfig):
    file: str = Field(min_length=1)


class FileSource(SourceKind):
    key = "file"
    model = FileSourceConfig
    config: FileSourceConfig

    def _pattern(self) -> Path:
        path = Path(self.config.file).expanduser()
        return path if path.is_absolute() else self.context.base_dir / path

    def targets(self) -> list[Target]:
        pattern = self._pattern()
        name = self.config.name
        if not glob.has_magic(str(pattern)):
            return [Target(name, name, str(pattern))]
        fixed = Path(*[p for p in _takewhile_literal(pattern.parts)])
        return [
            Target(f"{name}/{Path(found).relative_to(fixed).as_posix()}", name, found)
            for found in sorted(glob.glob(str(pattern), recursive=True))
            if Path(found).is_file()
        ]

    async def fetch(self, target: Target, etag: str | None, last_modified: str | None) -> Fetched:
        # The file's identity and size and mtime stand in for an ETag: unchanged, unread.
        try:
            st = os.stat(target.location)
        except FileNotFoundError:
            raise SourceError(f"file not found: {target.location}") from None
        except OSError as exc:
            raise SourceError(f"cannot read {target.location}: {exc.strerror}") from None
        signature = f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"
        if signature == etag:
            return Fetched(None, etag=etag)
        try:
            with open(target.location, "rb") as fh:
                return Fetched(fh.read(), etag=signature)
        except OSError as exc:
            raise SourceError(f"cannot read {target.location}: {exc.strerror}") from None

    def parser(self, known: Mapping[str, str]) -> Parser:
        return parse_text_file


def parse_text_file(fetched: Fetched, target: Target) -> Snapshot:
    body = fetched.body or b""
    if not body.strip():
        raise SourceError("empty file")
    if b"\x00" in body:
        raise SourceError("binary file (it contains NUL bytes)")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(f"not UTF-8 text (invalid byte at offset {exc.start})") from None
    try:
        return textblog.snapshot(text)
    except textblog.ParseError as exc:
        raise SourceError(str(exc)) from None


def _takewhile_literal(parts: tuple[str, ...]) -> list[str]:
    literal: list[str] = []
    for part in parts:
        if glob.has_magic(part):
            break
        literal.append(part)
    return literal
