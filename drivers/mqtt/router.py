"""Which decoder reads a topic: the first subscription whose filter matches it.

Matching a topic against the filters costs microseconds; a topic's decoder is cached, so the
hot path is one dict lookup per message (the cache is bounded in topics and in characters: a
flood of one-off topics, however long, only costs the matching again).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Final

from drivers.mqtt import esphome, generic_json, homie, shelly, tasmota, zigbee2mqtt
from drivers.mqtt.codec import Decoder
from drivers.mqtt.config import (
    EsphomeSubscription,
    HomieSubscription,
    JsonSubscription,
    ShellySubscription,
    SubscriptionConfig,
    TasmotaSubscription,
    Zigbee2MqttSubscription,
)

CACHE_LIMIT: Final = 65536
# Topics may be 64 KiB long: 65536 of them would hold 4 GiB, so their characters are bounded too.
CACHE_CHARS: Final = 4 * 2**20


def make_decoder(sub: SubscriptionConfig) -> Decoder:
    """The family's pure decoder with this subscription's options bound."""
    match sub:
        case Zigbee2MqttSubscription():
            aliases = {point: list(keys) for point, keys in sub.alarm_aliases.items()}
            return partial(zigbee2mqtt.decode, base_topic=sub.base_topic, alarm_aliases=aliases)
        case TasmotaSubscription():
            return tasmota.decode
        case EsphomeSubscription():
            return partial(esphome.decode, test_point=sub.test_point)
        case HomieSubscription():
            return partial(homie.decode, test_point=sub.test_point)
        case ShellySubscription():
            return shelly.decode
        case JsonSubscription():
            return partial(generic_json.decode, paths=generic_json.JsonPaths.of(sub))


def matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching; wildcards at the first level never match `$SYS`-style topics."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    want, have = topic_filter.split("/"), topic.split("/")
    for i, level in enumerate(want):
        if level == "#":
            return True
        if i >= len(have) or (level != "+" and level != have[i]):
            return False
    return len(want) == len(have)


class Router:
    def __init__(self, subscriptions: Sequence[SubscriptionConfig]) -> None:
        self.filters = [sub.topic for sub in subscriptions]
        self._decoders = [make_decoder(sub) for sub in subscriptions]
        self._cache: dict[str, Decoder | None] = {}
        self._cached_chars = 0

    def decoder_for(self, topic: str) -> Decoder | None:
        try:
            return self._cache[topic]
        except KeyError:
            pass
        found = None
        for topic_filter, decoder in zip(self.filters, self._decoders, strict=True):
            if matches(topic_filter, topic):
                found = decoder
                break
        if len(self._cache) >= CACHE_LIMIT or self._cached_chars + len(topic) > CACHE_CHARS:
            self._cache.clear()
            self._cached_chars = 0
        self._cache[topic] = found
        self._cached_chars += len(topic)
        return found
