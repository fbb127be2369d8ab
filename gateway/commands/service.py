"""The command subscriber: one broker session, run as a task of the Gateway's TaskGroup.

It subscribes to `<prefix>/command/+` (QoS 1, persistent session: commands sent while the
gateway restarts are delivered when it is back), judges each message (parse.py), runs the action
as the person the topic names, and answers on `<prefix>/command/<person>/reply` with
{"ok": true|false, "action", "number", "status" | "error", "id"}. Every refusal is counted by
cause and logged once per cause; nothing a client sends can stop the task.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections import Counter
from typing import Any

import aiomqtt
from paho.mqtt.reasoncodes import ReasonCode

from alerting.ledger import Ledger
from drivers.mqtt.config import MqttTlsConfig
from gateway.api import ledger_api
from gateway.app import Gateway
from gateway.commands.config import CommandsConfig
from gateway.commands.parse import Authority, Cause, Command, Note, Refusal, parse_command
from gateway.errors import LedgerError

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 60.0
_CAUSE_OF_STATUS = {404: Cause.UNKNOWN_NUMBER, 422: Cause.MALFORMED, 503: Cause.FAILED}


def tls_context(tls: MqttTlsConfig) -> ssl.SSLContext:
    """Verifies the broker's certificate and host name; a client certificate when given."""
    ctx = ssl.create_default_context(cafile=None if tls.ca_file is None else str(tls.ca_file))
    if tls.cert_file is not None and tls.key_file is not None:
        ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    return ctx


class CommandService:
    def __init__(self, gw: Gateway, cfg: CommandsConfig) -> None:
        self.gw, self.cfg = gw, cfg
        self.prefix = cfg.prefix(gw.ident.site, gw.ident.gateway)
        self.authority = Authority(
            frozenset(p.id for p in gw.cfg.people), dict(cfg.roles), cfg.default_role
        )
        self.counts: Counter[str] = Counter()  # "ok" and every Cause value
        self.subscribed = False
        self._logged: set[Cause] = set()

    @property
    def command_filter(self) -> str:
        return f"{self.prefix}/command/+"

    def reply_topic(self, person: str) -> str:
        return f"{self.prefix}/command/{person}/reply"

    async def run(self) -> None:
        """Until cancelled: connect, subscribe, serve; reconnect with backoff on any loss."""
        backoff = 1.0
        while True:
            try:
                async with self._client() as client:
                    granted = await client.subscribe(self.command_filter, qos=1)
                    if any(_failed(code) for code in granted):  # the ACL refused the gateway
                        raise aiomqtt.MqttError(f"subscribing {self.command_filter} refused")
                    self.subscribed, backoff = True, 1.0
                    log.info("commands: listening on %s", self.command_filter)
                    async for message in client.messages:
                        await self.handle(client, message)
            except (aiomqtt.MqttError, OSError) as exc:
                log.warning(
                    "commands: broker %s:%d: %s; reconnecting in %.0f s",
                    self.cfg.host, self.cfg.port, exc, backoff,
                )  # fmt: skip
            except Exception:  # never take the gateway's TaskGroup down with the command channel
                log.exception("commands: the subscriber failed; restarting in %.0f s", backoff)
            self.subscribed = False
            await self.gw.clock.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    def _client(self) -> aiomqtt.Client:
        c, ident = self.cfg, self.gw.ident
        client_id = c.client_id or f"hazgw-commands-{ident.site}-{ident.gateway}"
        return aiomqtt.Client(
            c.host, c.port, identifier=client_id,
            username=c.username, password=c.password.get_secret_value() if c.password else None,
            tls_context=None if c.tls is None else tls_context(c.tls),
            keepalive=c.keepalive_s, clean_session=False,
        )  # fmt: skip

    async def handle(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        """One message on a command topic: act or refuse, then reply to its person."""
        topic = message.topic.value
        person = topic.rsplit("/", 1)[-1]
        if message.retain:  # would run again at every reconnect: refuse it and clear it
            await client.publish(topic, b"", qos=1, retain=True)
            reply = self._refuse(person, Refusal(Cause.MALFORMED, "a command must not be retained"))
        else:
            payload = message.payload
            data = bytes(payload) if isinstance(payload, bytes | bytearray) else b""
            verdict = parse_command(person, data, self.authority,
                                    max_bytes=self.cfg.max_payload_bytes)  # fmt: skip
            if isinstance(verdict, Refusal):
                reply = self._refuse(person, verdict)
            else:
                reply = await self.perform(verdict)
        body = json.dumps(reply, ensure_ascii=False).encode()
        await client.publish(self.reply_topic(person), body, qos=1)

    async def perform(self, cmd: Command) -> dict[str, Any]:
        """Run an accepted command as its person; the reply to send."""
        try:
            if cmd.action == "note":
                doc = await self._note(cmd)
            else:  # acknowledge goes through Gateway.acknowledge: escalation stops at once
                doc = await ledger_api.act(self.gw, cmd.action, cmd.number, cmd.person, cmd.body)
        except ledger_api.Refused as exc:
            cause = _CAUSE_OF_STATUS.get(exc.status, Cause.REFUSED)
            return self._refuse(cmd.person, Refusal(cause, exc.reason, cmd.number, cmd.id))
        except LedgerError as exc:
            return self._refuse(cmd.person, Refusal(Cause.REFUSED, str(exc), cmd.number, cmd.id))
        except Exception:  # a bug or a stopping gateway must not end the subscriber
            log.exception("commands: %s %s by %s failed", cmd.action, cmd.number, cmd.person)
            why = "the gateway could not do this now; try again or use the CLI"
            return self._refuse(cmd.person, Refusal(Cause.FAILED, why, cmd.number, cmd.id))
        self.counts["ok"] += 1
        log.info("commands: %s %s by %s (mqtt)", cmd.action, cmd.number, cmd.person)
        return {"ok": True, "action": cmd.action, "number": cmd.number,
                "status": doc.get("status"), "id": cmd.id}  # fmt: skip

    async def _note(self, cmd: Command) -> dict[str, Any]:
        ledger, now = self.gw.ledger, self.gw.clock.wall_ns()
        if ledger is None:
            raise ledger_api.Refused(503, "the ledger is not open yet")
        assert isinstance(cmd.body, Note)
        text = cmd.body.text
        return await self.gw.run_db(lambda: _write_note(ledger, cmd.number, text, cmd.person, now))

    def _refuse(self, person: str, r: Refusal) -> dict[str, Any]:
        self.counts[r.cause.value] += 1
        first = r.cause not in self._logged
        self._logged.add(r.cause)
        log.log(
            logging.WARNING if first else logging.DEBUG,
            "commands: refused from %s (%s): %s%s", person, r.cause.value, r.error,
            " (further refusals of this kind are counted, logged at debug)" if first else "",
        )  # fmt: skip
        return {"ok": False, "cause": r.cause.value, "number": r.number, "error": r.error,
                "id": r.id}  # fmt: skip


def _failed(code: int | ReasonCode) -> bool:
    return code.is_failure if isinstance(code, ReasonCode) else code >= 0x80


def _write_note(ledger: Ledger, number: str, text: str, by: str, now_ns: int) -> dict[str, Any]:
    """On the worker thread: a progress note, refused like the HTTP API refuses."""
    try:
        ledger.hazard(number)
    except LedgerError as exc:
        raise ledger_api.Refused(404, str(exc)) from None
    try:
        ledger.note(number, text=text, by=by, ts_ns=now_ns)
    except LedgerError as exc:
        raise ledger_api.Refused(409, str(exc)) from None
    return ledger_api.hazard_doc(ledger.hazard(number))
