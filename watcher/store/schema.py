"""The store's tables, and the statements every poll runs, built once.

The same schema serves SQLite and PostgreSQL. Its version is kept in `meta`; see
migrations.py for how older databases are brought up to it.
"""

from __future__ import annotations

import sqlalchemy as sa

from watcher.store.liveness import alive

metadata = sa.MetaData()

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

sources = sa.Table(
    "sources",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(512), nullable=False, unique=True),
    # The configured source this target is part of (`seeds` for `seeds/000.txt`).
    sa.Column("source", sa.String(512)),
    sa.Column("title", sa.Text),  # the live blog's, as it last gave it
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("location", sa.Text, nullable=False),
    sa.Column("etag", sa.Text),
    sa.Column("last_modified", sa.Text),
    sa.Column("content_hash", sa.String(64)),
    sa.Column("baselined", sa.Boolean, nullable=False, default=False),
    sa.Column("last_poll_at", sa.Float),
    sa.Column("last_success_at", sa.Float),
    sa.Column("last_change_at", sa.Float),
    sa.Column("last_error", sa.Text),
    sa.Column("last_error_at", sa.Float),
    sa.Column("failures", sa.Integer, nullable=False, default=0),
    # A suspect poll (removing most entries, or changing too many), held until the next
    # poll confirms it: since when, and what it would have done (a hash of the changes).
    sa.Column("held_since", sa.Float),
    sa.Column("held", sa.String(64)),
    # The hash of a body that could not be parsed: the same bytes again fail at once.
    sa.Column("bad_hash", sa.String(64)),
)

entries = sa.Table(
    "entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source_id", sa.ForeignKey("sources.id"), nullable=False),
    sa.Column("key", sa.String(512), nullable=False),
    # Its words are its current revision's (revisions, below): each text is stored once.
    sa.Column("url", sa.Text),
    sa.Column("published", sa.String(64)),  # as the source wrote it
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("first_seen", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("removed_at", sa.Float),
    sa.Column("digest", sa.String(32)),  # of the item as the document wrote it (Entry.digest)
    sa.UniqueConstraint("source_id", "key"),
)
sa.Index("entries_active", entries.c.source_id, entries.c.removed_at)

revisions = sa.Table(
    "revisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("entry_id", sa.ForeignKey("entries.id"), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("entry_id", "revision"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source_id", sa.ForeignKey("sources.id"), nullable=False),
    # Entry events point at the entry and its revision; a source's down/up events do not.
    sa.Column("entry_id", sa.ForeignKey("entries.id")),
    sa.Column("revision", sa.Integer),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("tags", sa.Text, nullable=False),
    sa.Column("matches", sa.Text, nullable=False),
    sa.Column("diff", sa.Text),
    sa.Column("detail", sa.Text),  # why a source went down
    sa.Column("priority", sa.Boolean, nullable=False, default=False),
)
sa.Index("events_source", events.c.source_id, events.c.created_at)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("event_id", sa.ForeignKey("events.id"), nullable=False),
    sa.Column("channel", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending, done, failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("done_at", sa.Float),
    # A send under way since then (None when none is): one found set by a process that is
    # gone ended in doubt, and is sent again under the same key (notify/outbox.py).
    sa.Column("sending_at", sa.Float),
    sa.UniqueConstraint("event_id", "channel"),
)
sa.Index("deliveries_due", deliveries.c.status, deliveries.c.channel)

# One row a message sent, for rate limits.
sends = sa.Table(
    "sends",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("channel", sa.String(128), nullable=False),
    sa.Column("sent_at", sa.Float, nullable=False),
    sa.Column("deliveries", sa.Integer, nullable=False),
)
sa.Index("sends_channel", sends.c.channel, sends.c.sent_at)

# Who polls a source (by its configured name), or drains a channel (`channel:<name>`),
# now: the `owner` instance, for as long as it is alive (liveness.py); and when it is
# next due.
claims = sa.Table(
    "claims",
    metadata,
    sa.Column("name", sa.String(512), primary_key=True),
    sa.Column("next_due", sa.Float, nullable=False),
    sa.Column("owner", sa.String(256)),
    sa.Column("last_owner", sa.String(256)),
    sa.Column("last_done_at", sa.Float),
)


# Statements of every poll, built once: building them per call costs more than running them.
SOURCE_BY_NAME = sa.select(sources).where(sources.c.name == sa.bindparam("name"))
SOURCES_BY_NAMES = sa.select(sources).where(
    sources.c.name.in_(sa.bindparam("names", expanding=True))
)
NEW_SOURCE = sources.insert().returning(*sources.c)


# A revision that is its entry's current one: it holds the entry's words, and retention
# keeps it whatever its age.
IS_CURRENT = sa.and_(
    revisions.c.entry_id == entries.c.id, revisions.c.revision == entries.c.revision
)


def current(base: sa.Join | sa.Table) -> sa.Join:
    """`base` (entries, or what joins them) joined with each entry's current revision."""
    return base.join(revisions, IS_CURRENT)


ACTIVE_ENTRIES = (
    sa.select(
        entries.c.id,
        entries.c.key,
        revisions.c.title,
        revisions.c.body,
        entries.c.position,
        entries.c.url,
        entries.c.revision,
        entries.c.digest,
    )
    .select_from(current(entries))
    .where(entries.c.source_id == sa.bindparam("source_id"), entries.c.removed_at.is_(None))
    .order_by(entries.c.position)
)
# A poll that went well, changed or not: the one writer of a source's success. An unchanged
# poll passes no content hash and keeps the stored one.
RECORD_SUCCESS = (
    sources.update()
    .where(sources.c.id == sa.bindparam("source_id"))
    .values(
        etag=sa.bindparam("etag"),
        last_modified=sa.bindparam("last_modified"),
        content_hash=sa.func.coalesce(
            sa.bindparam("content_hash", type_=sa.String), sources.c.content_hash
        ),
        baselined=True,
        last_poll_at=sa.bindparam("now"),
        last_success_at=sa.bindparam("now"),
        last_error=None,
        failures=0,
        held_since=None,
        held=None,
        bad_hash=None,
        last_change_at=sa.case(
            (sa.bindparam("changed", type_=sa.Boolean), sa.bindparam("now")),
            else_=sources.c.last_change_at,
        ),
    )
)
IDS_BY_KEY = sa.select(entries.c.key, entries.c.id, entries.c.revision).where(
    entries.c.source_id == sa.bindparam("source_id"),
    entries.c.key.in_(sa.bindparam("keys", expanding=True)),
)


def _claim_statement(due: bool) -> sa.Update:
    """Takes a claim (see Store.claim): the row picked FOR UPDATE SKIP LOCKED, if it is
    free, this instance's already, or held by an instance that is not alive; and, with
    `due`, if it is due."""
    me, at = sa.bindparam("me", type_=sa.String), sa.bindparam("at", type_=sa.Float)
    free = sa.or_(claims.c.owner.is_(None), claims.c.owner == me, ~alive(claims.c.owner))
    pick = sa.select(claims.c.name).where(claims.c.name == sa.bindparam("claim_name"), free)
    if due:
        pick = pick.where(claims.c.next_due <= at)
    return (
        claims.update()
        .where(claims.c.name.in_(pick.with_for_update(skip_locked=True).scalar_subquery()))
        .values(owner=me)
        .returning(claims.c.name)
    )


CLAIM_DUE, CLAIM_ANY = _claim_statement(due=True), _claim_statement(due=False)
# `watcher pause` sets a source's next_due this far on; `watcher poll`, to 0 (now).
PAUSED = 1e18
RELEASE = (
    claims.update()
    .where(claims.c.name == sa.bindparam("claim_name"), claims.c.owner == sa.bindparam("me"))
    .values(
        owner=None,
        last_owner=sa.bindparam("me"),
        last_done_at=sa.bindparam("at"),
        # A source paused while it was polled stays paused.
        next_due=sa.case(
            (claims.c.next_due >= PAUSED, claims.c.next_due),
            else_=sa.func.coalesce(sa.bindparam("due_at", type_=sa.Float), claims.c.next_due),
        ),
    )
)
# Who holds a claim: read before each send, on the session that proves we are alive.
HOLDER = sa.select(claims.c.owner).where(claims.c.name == sa.bindparam("claim_name"))
HOLDER_LOCKED = HOLDER.with_for_update()  # in a poll's transaction, until its commit
CLAIMS = sa.select(
    claims.c.name,
    claims.c.next_due,
    claims.c.owner,
    alive(claims.c.owner).label("alive"),
    claims.c.last_owner,
    claims.c.last_done_at,
).order_by(claims.c.name)

# An event with what it is about: its source, its entry, and the entry's text as of the
# event (the revision it made). The outbox sends these; the desk shows them.
EVENT_COLUMNS = (
    events.c.id.label("event_id"),
    events.c.kind,
    events.c.tags,
    events.c.matches,
    events.c.diff,
    events.c.created_at,
    events.c.detail,
    events.c.priority,
    sources.c.name.label("source"),
    sources.c.title.label("blog"),
    entries.c.key,
    entries.c.url,
    entries.c.published,
    revisions.c.title,
    revisions.c.body,
    entries.c.id.label("entry_id"),
)


def with_event(base: sa.Join | sa.Table) -> sa.Join:
    """`base` (events, or what joins them) joined flat with what EVENT_COLUMNS reads."""
    return (
        base.join(sources, events.c.source_id == sources.c.id)
        .outerjoin(entries, events.c.entry_id == entries.c.id)
        .outerjoin(
            revisions,
            sa.and_(
                revisions.c.entry_id == events.c.entry_id,
                revisions.c.revision == events.c.revision,
            ),
        )
    )


EVENTS = sa.select(*EVENT_COLUMNS).select_from(with_event(events))
DELIVERIES = sa.select(
    deliveries.c.id,
    deliveries.c.channel,
    deliveries.c.attempts,
    deliveries.c.next_attempt_at,
    deliveries.c.created_at.label("delivery_created_at"),
    deliveries.c.status,
    deliveries.c.last_error,
    deliveries.c.done_at,
    deliveries.c.sending_at,
    *EVENT_COLUMNS,
).select_from(with_event(deliveries.join(events, deliveries.c.event_id == events.c.id)))
