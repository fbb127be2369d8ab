"""The router's topic cache stays small whatever topics arrive. MQTT topics may be 64 KiB long;
the cache was bounded in entries only (65536), so one-off long topics on a subscribed filter,
from any client allowed to publish there, could hold gigabytes (found writing the memory
contract of tests/fuzz/fuzz_mqtt.py: 1000 such messages kept 57 MiB)."""

from __future__ import annotations

import tracemalloc

from drivers.mqtt.config import MqttDriverConfig
from drivers.mqtt.router import CACHE_CHARS, Router, matches

CONFIG = MqttDriverConfig.model_validate({
    "type": "mqtt", "id": "r", "client_id": "r",
    "subscriptions": [{"family": "zigbee2mqtt"}, {"family": "shelly"}],
})  # fmt: skip
LONG = 60_000  # characters of one topic (ASCII: one byte each)


def test_a_flood_of_long_one_off_topics_keeps_the_cache_bounded() -> None:
    router = Router(CONFIG.subscriptions)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for i in range(600):  # 36 MB of topics
            router.decoder_for(f"zigbee2mqtt/{i:06d}/" + "x" * LONG)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 2 * CACHE_CHARS


def test_topics_find_their_decoder_across_cache_clears() -> None:
    router = Router(CONFIG.subscriptions)
    topics = [f"{base}/{i}/" + "y" * LONG for i in range(200) for base in ("shellies", "other")]
    first = [router.decoder_for(t) for t in topics]
    again = [router.decoder_for(t) for t in topics]  # the cache was cleared on the way
    assert first == again
    for topic, decoder in zip(topics, first, strict=True):
        assert (decoder is None) == (not any(matches(f, topic) for f in router.filters))
