"""Polite, bounded HTTP fetching, shared by every source that reads from the web.

One AsyncClient for the process (keep-alive), a global limit on requests in flight and a
limit per host, connect/read/total timeouts, a cap on the body enforced while it streams,
a bounded number of redirects, conditional GETs, and `Retry-After` read on 429 and 503.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import socket
import time
import zlib
from abc import abstractmethod
from collections import defaultdict
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field

from watcher import __version__
from watcher.model import Target
from watcher.sources.base import Fetched, SourceError, SourceKind
from watcher.sources.transport import AiohttpTransport
from watcher.units import Duration, Size

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
USER_AGENT = (
    f"watcher/{__version__} (live-blog change monitor; +https://github.com/watcher-news/watcher)"
)


class FetchConfig(BaseModel):
    """The `fetch:` section of the config."""

    model_config = ConfigDict(extra="forbid")

    concurrency: int = Field(default=50, ge=1, description="fetches at once, e.g. 50")
    per_host: int = Field(default=6, ge=1, description="fetches at once from one host, e.g. 6")
    connect_timeout: Duration = 10.0
    read_timeout: Duration = 30.0
    timeout: Duration = 60.0
    max_bytes: Size = Field(
        default=10 * 1024 * 1024, ge=1024, description="bytes, decoded, e.g. 10MB or 10485760"
    )
    max_redirects: int = Field(default=5, ge=0, description="redirects followed, e.g. 5")
    # Redirects to loopback, private and link-local addresses other than the source's own.
    private_redirects: bool = False
    user_agent: str = USER_AGENT


class _NoCookies(httpx.Cookies):
    """No cookie kept from one poll for the next, as feed readers do: one source's polls
    do not hang on what another page set, and the client-wide jar's bookkeeping was a
    fifth of the CPU of an unchanged (304) poll. Within one poll's redirects, cookies are
    kept (`_follow`)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class HttpFetcher:
    def __init__(self, config: FetchConfig) -> None:
        self.config = config
        self._client: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(config.per_host)
        )

    def _ensure(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        # Made on first use, inside the running event loop they belong to.
        if self._client is None or self._slots is None:
            c = self.config
            self._client = httpx.AsyncClient(
                headers={"User-Agent": c.user_agent, "Accept-Encoding": "gzip, deflate"},
                timeout=httpx.Timeout(c.read_timeout, connect=c.connect_timeout, pool=c.timeout),
                limits=httpx.Limits(
                    max_connections=c.concurrency, max_keepalive_connections=c.concurrency
                ),
                follow_redirects=False,  # followed here, each hop checked (see _redirect)
                trust_env=False,
                transport=AiohttpTransport(c.concurrency, c.per_host),
            )
            self._client._cookies = _NoCookies()  # the property's setter would copy a jar
            self._slots = asyncio.Semaphore(c.concurrency)
        return self._client, self._slots

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def get(
        self, url: str, etag: str | None, last_modified: str | None, accept: str = "*/*"
    ) -> Fetched:
        """The body at `url`, or Fetched(None) on a 304; raises SourceError on failure."""
        client, slots = self._ensure()
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        host = urlsplit(url).netloc.lower()
        async with slots, self._hosts[host]:
            try:
                async with asyncio.timeout(self.config.timeout):
                    return await self._follow(client, url, headers, etag, last_modified)
            except TimeoutError:
                raise SourceError(f"timed out after {self.config.timeout:g}s") from None
            except httpx.TimeoutException as exc:
                raise SourceError(f"timed out ({type(exc).__name__})") from None
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise SourceError(f"fetch failed: {type(exc).__name__}: {exc}") from None

    async def _follow(
        self,
        client: httpx.AsyncClient,
        url: str,
        headers: dict[str, str],
        etag: str | None,
        last_modified: str | None,
    ) -> Fetched:
        """Follows redirects, each hop checked against the policy before it is requested.
        httpx builds each next request (relative Locations, and credentials dropped when
        the origin changes)."""
        request = client.build_request("GET", url, headers=headers)
        chain = httpx.Cookies()  # what the hops set, for the next hops (a consent redirect)
        for _ in range(self.config.max_redirects + 1):
            response = await client.send(request, stream=True)
            try:
                following = response.next_request
                if following is None:
                    return await self._read(response, etag, last_modified)
                if "set-cookie" in response.headers:
                    chain.extract_cookies(response)
            finally:
                await response.aclose()
            await self._redirect(request.url, following.url, url)
            if chain:
                chain.set_cookie_header(following)
            request = following
        raise SourceError(f"more than {self.config.max_redirects} redirects")

    async def _redirect(self, here: httpx.URL, there: httpx.URL, source_url: str) -> None:
        """Refuses a redirect off HTTP(S), from HTTPS to HTTP, or to a loopback, private or
        link-local address where the source's own URL is not (unless `private_redirects`):
        a page must not make watcher read, store and alert what sits on the internal
        network."""
        if there.scheme not in ("http", "https"):
            raise SourceError(f"redirect to a {there.scheme or 'schemeless'} URL refused")
        if here.scheme == "https" and there.scheme == "http":
            raise SourceError(f"redirect from https to http refused ({there.host})")
        if self.config.private_redirects:
            return
        private = {a for a in await _addresses(there) if not _public(a)}
        if private and not private <= await _addresses(httpx.URL(source_url)):
            raise SourceError(f"redirect to a private address refused ({there.host})")

    async def _read(
        self, response: httpx.Response, etag: str | None, last_modified: str | None
    ) -> Fetched:
        status = response.status_code
        if status == 304:
            await response.aread()  # the (empty) rest, so the connection is kept alive
            return Fetched(None, etag=etag, last_modified=last_modified)
        if status >= 400:
            retry_after = (
                parse_retry_after(response.headers.get("Retry-After"))
                if status in (429, 503)
                else None
            )
            raise SourceError(f"HTTP {status} {response.reason_phrase}", retry_after)
        if status >= 300:
            raise SourceError(f"HTTP {status} without a usable redirect")
        limit = self.config.max_bytes
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise SourceError(f"body of {int(declared)} bytes is over the {limit}-byte cap")
        decoder = Decoder.of(response.headers.get("Content-Encoding"))
        chunks, size = [], 0
        async for raw in response.aiter_raw():
            chunk = decoder.decode(raw, limit - size) if decoder is not None else raw
            size += len(chunk)
            if size > limit:
                raise SourceError(f"body over the {limit}-byte cap")
            chunks.append(chunk)
        return Fetched(
            b"".join(chunks),
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
            content_type=response.headers.get("Content-Type"),
            url=str(response.url),
        )


class Decoder:
    """One layer of gzip or deflate, decoded a bounded piece at a time.

    httpx decodes each raw chunk whole, so a few kilobytes of nested gzip become
    gigabytes before any cap is checked; here no call returns more than the room left
    under the cap plus one byte. Stacked encodings (`gzip, gzip`) and unknown ones are
    refused: we only ask for gzip and deflate, once.
    """

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._inflate = zlib.decompressobj(31 if encoding in ("gzip", "x-gzip") else 15)
        self._started = False

    @classmethod
    def of(cls, header: str | None) -> Decoder | None:
        layers = [e.strip().lower() for e in (header or "").split(",")]
        layers = [e for e in layers if e and e != "identity"]
        if not layers:
            return None
        if len(layers) > 1:
            raise SourceError(f"stacked content encodings refused ({header})")
        if layers[0] not in ("gzip", "x-gzip", "deflate"):
            raise SourceError(f"unsupported content encoding {layers[0]!r}")
        return cls(layers[0])

    def decode(self, data: bytes, room: int) -> bytes:
        """At most `room` + 1 bytes of output: one more than fits says the cap is passed."""
        try:
            out = self._inflate.decompress(data, max(room, 0) + 1)
        except zlib.error:
            if self.encoding != "deflate" or self._started:
                raise SourceError(f"body is not valid {self.encoding}") from None
            # Some servers send raw deflate without the zlib header.
            self._inflate = zlib.decompressobj(-15)
            return self.decode(data, room)
        self._started = True
        return out


async def _addresses(url: httpx.URL) -> set[IPAddress]:
    """The addresses a URL's host stands for; none if it does not resolve (the request
    then fails on its own)."""
    host = url.host
    try:
        return {ipaddress.ip_address(host)}
    except ValueError:
        pass
    try:
        found = await asyncio.get_running_loop().getaddrinfo(
            host, url.port or (443 if url.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except OSError:
        return set()
    return {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in found}


def _public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


class WebSource(SourceKind):
    """A source that is one URL, fetched through the shared client."""

    accept = "*/*"

    @property
    @abstractmethod
    def url(self) -> str:
        """The URL the config gives."""

    def targets(self) -> list[Target]:
        return [Target(self.config.name, self.config.name, self.url)]

    async def fetch(self, target: Target, etag: str | None, last_modified: str | None) -> Fetched:
        return await self.context.http.get(target.location, etag, last_modified, self.accept)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))
