"""9-byte UART frames: the checksum of the datasheets, a parser that resyncs after garbage and
handles short reads and concatenated frames, and decoding that never passes a bogus value."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.base import Binding
from drivers.sim.pty_uart import PtyUartSensor
from drivers.uart.config import UartDriverConfig
from drivers.uart.driver import bind_model
from drivers.uart.frames import (
    MODELS,
    QA_MODE_COMMAND,
    READ_COMMAND,
    FrameParser,
    FrameValues,
    checksum,
    decode,
    with_checksum,
)
from gateway.errors import ConfigError
from gateway.model import Quality

ZE07 = bytes.fromhex("FF 04 03 01 00 25 13 88 38")  # domain.md: ZE07 CO, 3.7 ppm


def frame(*body: int) -> bytes:
    return with_checksum(bytes([0xFF, *body]))


def test_the_datasheet_checksums() -> None:
    assert checksum(ZE07) == 0x38
    assert READ_COMMAND.hex(" ") == "ff 01 86 00 00 00 00 00 79"
    assert QA_MODE_COMMAND.hex(" ") == "ff 01 78 41 00 00 00 00 46"


WITH_FF = frame(0x04, 0x03, 0x00, 0x00, 0xFF, 0x13, 0x88)  # 0xFF inside the data
BAD = ZE07[:8] + b"\x39"


@pytest.mark.parametrize(
    ("chunks", "frames", "rejected", "pending"),
    [
        pytest.param([ZE07], [ZE07], {}, 0, id="one frame"),
        pytest.param([ZE07[:3], ZE07[3:8], ZE07[8:]], [ZE07], {}, 0, id="short reads"),
        pytest.param([ZE07 + WITH_FF], [ZE07, WITH_FF], {}, 0, id="concatenated"),
        pytest.param([b"\x00\x11" + ZE07], [ZE07], {"garbage": 1}, 0, id="garbage first"),
        pytest.param([ZE07 + b"\x42" + ZE07], [ZE07, ZE07], {"garbage": 1}, 0, id="between"),
        pytest.param([BAD + ZE07], [ZE07], {"checksum": 1, "garbage": 1}, 0, id="bad, good"),
        pytest.param([b"\xff" + ZE07], [ZE07], {"checksum": 1}, 0, id="a stray 0xFF"),
        pytest.param([ZE07[:5]], [], {}, 5, id="half a frame waits"),
        pytest.param([b"\x01\x02\x03"], [], {"garbage": 1}, 0, id="nothing but garbage"),
        pytest.param([b""], [], {}, 0, id="an empty read"),
    ],
)
def test_the_parser(
    chunks: list[bytes], frames: list[bytes], rejected: dict[str, int], pending: int
) -> None:
    parser = FrameParser()
    out = [f for c in chunks for f in parser.feed(c)]
    assert (out, dict(parser.rejected), parser.pending) == (frames, rejected, pending)


@given(st.lists(st.binary(max_size=40), max_size=10))
def test_garbage_only_ever_yields_counted_rejections(chunks: list[bytes]) -> None:
    parser = FrameParser()
    for chunk in chunks:
        for f in parser.feed(chunk):
            assert len(f) == 9
            assert f[0] == 0xFF
            assert f[8] == checksum(f)
        assert parser.pending < 9


valid_frames = st.lists(st.binary(min_size=7, max_size=7), min_size=1, max_size=6).map(
    lambda bodies: [with_checksum(b"\xff" + b) for b in bodies]
)
noise = st.binary(max_size=12).map(lambda b: b.replace(b"\xff", b""))


@given(valid_frames, st.lists(noise, min_size=7, max_size=7), st.lists(st.integers(1, 30)))
def test_every_frame_comes_through_garbage_and_any_chunking(
    frames: list[bytes], gaps: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(gap + f for gap, f in zip(gaps, frames, strict=False))
    parser, out, at = FrameParser(), [], 0
    for size in [*cuts, len(stream)]:
        out += parser.feed(stream[at : at + size])
        at += size
    assert out == frames
    assert parser.rejected["garbage"] == sum(1 for g in gaps[: len(frames)] if g)


@pytest.mark.parametrize(
    ("model", "data", "expected"),
    [
        ("ze07-co", ZE07, FrameValues({"gas": 3.7}, Quality.GOOD)),
        ("ze07-co", frame(0x04, 0x03, 0x00, 0x01, 0xF4, 0x01, 0xF4), {"gas": 500.0}),
        ("ze08-ch2o", frame(0x17, 0x04, 0x00, 0x00, 0x25, 0x13, 0x88), {"gas": 0.037}),  # ppb
        ("ze07-co", frame(0x04, 0x03, 0x00, 0x13, 0x89, 0x13, 0x88), "over range"),
        ("ze07-co", frame(0x17, 0x04, 0x00, 0x00, 0x25, 0x13, 0x88), "other_gas"),
        ("ze07-co", frame(0x04, 0x09, 0x01, 0x00, 0x25, 0x13, 0x88), "unit"),
        ("ze07-co", frame(0x04, 0x03, 0x07, 0x00, 0x25, 0x13, 0x88), "decimals"),
        ("mh-z19", ZE07, "other_gas"),  # it has no active mode
        ("ze07-co", frame(0x86, 0x00, 0x25, 0x00, 0x00, 0x00, 0x25), {"gas": 3.7}),
        ("ze08-ch2o", frame(0x86, 0x00, 0x2A, 0x00, 0x00, 0x00, 0x20), {"gas": 0.032}),
        ("mh-z19", frame(0x86, 0x01, 0x90, 0x40, 0x00, 0x00, 0x00), {"gas": 400.0,
                                                                      "temperature": 24.0}),
    ],
)  # fmt: skip
def test_decoding(model: str, data: bytes, expected: FrameValues | dict[str, float] | str) -> None:
    decoded = decode(data, MODELS[model])
    if expected == "over range":
        assert isinstance(decoded, FrameValues)
        assert decoded.quality is Quality.BAD
        assert math.isnan(decoded.values["gas"])
    elif isinstance(expected, str):
        assert decoded == expected
    else:
        assert isinstance(decoded, FrameValues)
        want = expected.values if isinstance(expected, FrameValues) else expected
        assert decoded.values == pytest.approx(want)
        assert decoded.quality is Quality.GOOD


@given(st.binary(min_size=7, max_size=7), st.sampled_from(sorted(MODELS)))
def test_any_good_frame_decodes_to_values_or_a_reason(body: bytes, model: str) -> None:
    decoded = decode(with_checksum(b"\xff" + body), MODELS[model])
    if isinstance(decoded, FrameValues):
        for value in decoded.values.values():
            assert math.isfinite(value) or decoded.quality is Quality.BAD
    else:
        assert decoded in {"other_gas", "unit", "decimals"}


def test_the_simulators_independent_encoder_speaks_the_same_frames() -> None:
    sim = PtyUartSensor("co", counts=37, decimals=1)
    try:
        assert sim.active_frame() == ZE07
        assert FrameParser().feed(sim.qa_frame()) == [sim.qa_frame()]
    finally:
        sim.stop()


def b(i: int, profile: str, point: str = "") -> Binding:
    return Binding(i, f"d{i}", "co", profile=profile, point=point)


@pytest.mark.parametrize(
    ("bindings", "problems"),
    [
        ([b(0, "ze07-co")], []),
        ([b(0, "mh-z19", "gas"), b(1, "mh-z19", "temperature")], []),
        ([], ["devices: no device uses this driver"]),
        ([b(0, "ze99")], ["devices.d0: profile: 'ze99' is not one of ze07-co, ze08-ch2o, mh-z19"]),
        ([b(0, "ze07-co", "humidity")], ["devices.d0: point: 'humidity' is not one of gas, "
                                         "temperature"]),
        ([b(0, "ze07-co"), b(1, "ze08-ch2o")], ["devices: one port carries one sensor module, "
                                                "not profiles ['ze07-co', 'ze08-ch2o']"]),
    ],
)  # fmt: skip
def test_bindings_name_a_known_model_and_point(
    bindings: list[Binding], problems: list[str]
) -> None:
    if not problems:
        assert bind_model(bindings, "drivers.u")[0].name == bindings[0].profile
        return
    with pytest.raises(ConfigError) as info:
        bind_model(bindings, "drivers.u")
    assert [f"{i.key}: {i.message}" for i in info.value.issues] == problems


def test_the_uart_config_defaults_to_9600_8n1_active_upload() -> None:
    cfg = UartDriverConfig.model_validate({"type": "uart", "id": "co-1", "port": "/dev/ttyS0"})
    assert (cfg.baudrate, cfg.bytesize, cfg.parity, cfg.stopbits, cfg.mode) == (
        9600, 8, "N", 1, "active")  # fmt: skip
    with pytest.raises(ValueError, match="Extra inputs"):
        UartDriverConfig.model_validate({"type": "uart", "id": "c", "port": "/x", "model": "z"})
