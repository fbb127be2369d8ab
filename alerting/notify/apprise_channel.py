"""Apprise: email, SMS gateways, DingTalk, WeCom, Feishu, Telegram and the rest, by URL.

Two shapes (config.py checks that one channel has one of them):
- group URLs (a chat robot, a mailing list): one message per notification to every URL;
- per-person URLs: templates filled from the recipient's contact ({phone}, {email}, {id}) and/or
  the recipient's own `notify_urls`; the pipeline hands this notifier one recipient at a time, so
  the ledger records who was reached and who was not.
Apprise is synchronous (requests): each attempt runs in a worker thread with apprise's own timeouts,
and the pipeline's timeout stops waiting for it. A retry sends only to the URLs that failed, so a
person who got the SMS does not get it again because the email bounced. Apprise does not say why a
service failed, so a failure is taken as retryable; an URL apprise refuses is not.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import apprise

from alerting.notify import DRILL_PREFIX, LISTED_IN_TEXT, Contact, Notification, NotifyError
from alerting.notify.webhook import delivery_id

PLACEHOLDER = re.compile(r"\{(\w+)\}")
REMEMBERED = 256  # messages whose partial success is remembered for their retries
_PIECES = re.compile(r"[/:@?&=,#]+")


class _Redact(logging.Filter):
    """Apprise's own log lines may quote tokens and passwords of URLs: mask them."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def add(self, url: str) -> None:
        tail = url.split("://", 1)[-1]
        self.secrets |= {p for p in _PIECES.split(tail) if len(p) >= 6}

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            for secret in self.secrets:
                text = text.replace(secret, "****")
            record.msg, record.args = text, ()
        return True


REDACT = _Redact()
logging.getLogger("apprise").addFilter(REDACT)


def title_of(n: Notification) -> str:
    return f"{'[DRILL] ' if n.drill else ''}{n.title}"


def body_of(n: Notification) -> str:
    lines = [n.text]
    for m in n.members[:LISTED_IN_TEXT]:
        where = f" @ {m.location}" if m.location else ""
        lines.append(f"- {m.number} {m.title}: {m.reason}{where}")
    if n.drill:
        lines.append(DRILL_PREFIX.strip())
    return "\n".join(lines)


class AppriseNotifier:
    def __init__(
        self,
        *,
        name: str = "apprise",
        urls: Sequence[str],
        people: Mapping[str, Contact] | None = None,
        per_recipient: bool = False,
        people_urls: bool = False,
    ) -> None:
        self.name, self.urls = name, tuple(urls)
        self.people = dict(people or {})
        self.per_recipient = per_recipient or people_urls
        self.people_urls = people_urls
        self._done: OrderedDict[str, set[str]] = OrderedDict()
        for url in self.urls:
            REDACT.add(url)
        for person in self.people.values():
            for url in person.notify_urls:
                REDACT.add(url)

    def targets(self, n: Notification) -> list[str]:
        """The URLs this notification goes to (per recipient: that person's)."""
        if not self.per_recipient:
            return list(self.urls)
        out: list[str] = []
        for who in n.recipients:
            person = self.people.get(who, Contact(who))
            for url in self.urls:
                needed = PLACEHOLDER.findall(url)
                if all(person.value(k) for k in needed):
                    out.append(_fill(url, person))
            if self.people_urls:
                out += person.notify_urls
        return out

    async def send(self, notification: Notification) -> None:
        targets = self.targets(notification)
        if not targets:
            who = ", ".join(notification.recipients)
            raise NotifyError(f"{self.name}: no address for {who}", retryable=False)
        key = delivery_id(notification)
        done = self._done.setdefault(key, set())
        self._done.move_to_end(key)
        while len(self._done) > REMEMBERED:
            self._done.popitem(last=False)
        todo = [t for t in targets if t not in done]
        title, body = title_of(notification), body_of(notification)
        kind = _notify_type(notification)
        results = await asyncio.to_thread(_notify_each, todo, title, body, kind)
        done.update(url for url, (ok, _, _) in zip(todo, results, strict=True) if ok)
        failed = [(name, valid) for ok, name, valid in results if not ok]
        if not failed:
            self._done.pop(key, None)
            return
        names = ", ".join(name for name, _ in failed)
        retryable = any(valid for _, valid in failed)
        raise NotifyError(
            f"{self.name}: {len(failed)}/{len(targets)} failed: {names}", retryable=retryable
        )


def _fill(url: str, person: Contact) -> str:
    return PLACEHOLDER.sub(lambda m: person.value(m.group(1)), url)


def _notify_type(n: Notification) -> apprise.NotifyType:
    if n.drill:
        return apprise.NotifyType.INFO
    return apprise.NotifyType.FAILURE if n.urgent else apprise.NotifyType.WARNING


def _notify_each(
    urls: list[str], title: str, body: str, kind: apprise.NotifyType
) -> list[tuple[bool, str, bool]]:
    """(ok, name safe to record, valid URL) per URL, sent one by one (worker thread)."""
    out: list[tuple[bool, str, bool]] = []
    for url in urls:
        ap = apprise.Apprise()
        if not ap.add(url):
            scheme = url.split("://", 1)[0] if "://" in url else "?"
            out.append((False, f"{scheme}:// (refused by apprise)", False))
            continue
        name = str(ap[0].url(privacy=True)).split("?", 1)[0]  # type: ignore[no-untyped-call]
        ok = bool(ap.notify(body=body, title=title, notify_type=kind))
        out.append((ok, name, True))
    return out
