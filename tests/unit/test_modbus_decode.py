"""Register words become values and qualities; the device's own status decides the quality, and
a value that is not a measurement is NaN with quality BAD, never a number."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.client.mixin import ModbusClientMixin

from drivers.modbus.decode import decode_point, raw_number, status_flags, status_quality
from drivers.modbus.profile import PointSpec, StatusBits, load_profile
from gateway.model import Quality

GAS = load_profile("gas-transmitter")
XY = load_profile("xy-md02")
BITS = GAS.status.bits if GAS.status else StatusBits()
WARMUP, LOW, HIGH, OVER, LOST = (1 << b for b in (0, 1, 2, 3, 4))


@pytest.mark.parametrize(
    ("words", "data_type", "byte_order", "word_order", "expected"),
    [
        ([0xFF9C], "int16", "big", "big", -100.0),
        ([0xFF9C], "uint16", "big", "big", 65436.0),
        ([0x9CFF], "int16", "little", "big", -100.0),
        ([0x0001, 0x0002], "uint32", "big", "big", 65538.0),
        ([0x0002, 0x0001], "uint32", "big", "little", 65538.0),
        ([0xFFFF, 0xFFFE], "int32", "big", "big", -2.0),
        ([0x41C8, 0x0000], "float32", "big", "big", 25.0),
        ([0x0000, 0x41C8], "float32", "big", "little", 25.0),
        ([0xC841, 0x0000], "float32", "little", "big", 25.0),
    ],
)
def test_data_types_and_byte_and_word_orders(
    words: list[int], data_type: str, byte_order: str, word_order: str, expected: float
) -> None:
    assert raw_number(words, data_type, byte_order, word_order) == expected


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.sampled_from(["big", "little"]))
def test_32_bit_values_agree_with_pymodbus(hi: int, lo: int, word_order: str) -> None:
    dt = ModbusClientMixin.DATATYPE
    for name, kind in (("int32", dt.INT32), ("uint32", dt.UINT32), ("float32", dt.FLOAT32)):
        ours = raw_number([hi, lo], name, "big", word_order)
        theirs = ModbusClientMixin.convert_from_registers([hi, lo], kind, word_order=word_order)  # type: ignore[arg-type]
        assert isinstance(theirs, float | int)
        assert ours == pytest.approx(float(theirs), nan_ok=True)


@pytest.mark.parametrize(
    ("word", "flags", "quality"),
    [
        (0, set(), Quality.GOOD),
        (WARMUP, {"warmup"}, Quality.UNCERTAIN),
        (LOW, {"low_alarm"}, Quality.GOOD),
        (LOW | HIGH, {"low_alarm", "high_alarm"}, Quality.GOOD),
        (OVER, {"over_range"}, Quality.BAD),
        (LOST, {"sensor_lost"}, Quality.BAD),
        (WARMUP | LOST, {"warmup", "sensor_lost"}, Quality.BAD),
        (0xFFE0, set(), Quality.GOOD),  # bits the profile does not name mean nothing
    ],
)
def test_status_bits_become_a_quality(word: int, flags: set[str], quality: Quality) -> None:
    assert status_flags(word, BITS) == flags
    assert status_quality(word, BITS) is quality


def gas_image(status: int = 0, raw: int = 125, decimals: int = 1) -> dict[tuple[int, int], int]:
    return {(3, 0): status, (3, 1): raw, (3, 2): decimals, (3, 3): 1000}


@pytest.mark.parametrize(
    ("image", "value", "quality", "problem"),
    [
        (gas_image(), 12.5, Quality.GOOD, ""),
        (gas_image(decimals=0), 125.0, Quality.GOOD, ""),
        (gas_image(decimals=3), 0.125, Quality.GOOD, ""),
        (gas_image(status=WARMUP), 12.5, Quality.UNCERTAIN, ""),
        (gas_image(status=HIGH), 12.5, Quality.GOOD, ""),
        (gas_image(status=LOST), math.nan, Quality.BAD, ""),
        (gas_image(status=OVER, raw=0xFFFF), math.nan, Quality.BAD, ""),
        (gas_image(decimals=9), math.nan, Quality.BAD, "decimal-point register 2 holds 9"),
    ],
)
def test_the_gas_transmitters_concentration(
    image: dict[tuple[int, int], int], value: float, quality: Quality, problem: str
) -> None:
    decoded = decode_point(GAS.points["gas"], GAS.status, image)
    assert decoded is not None
    assert decoded.value == pytest.approx(value, nan_ok=True)
    assert (decoded.quality, decoded.problem) == (quality, problem)


def test_the_devices_own_alarm_bits_are_values_regardless_of_status() -> None:
    image = gas_image(status=LOST | HIGH)
    high = decode_point(GAS.points["high_alarm"], GAS.status, image)
    low = decode_point(GAS.points["low_alarm"], GAS.status, image)
    assert high is not None
    assert low is not None
    assert (high.value, high.quality, low.value) == (1.0, Quality.GOOD, 0.0)


def test_a_value_whose_status_was_not_read_is_not_reported() -> None:
    image = gas_image()
    del image[(3, 0)]
    assert decode_point(GAS.points["gas"], GAS.status, image) is None


def test_a_value_whose_register_was_not_read_is_not_reported() -> None:
    assert decode_point(XY.points["humidity"], XY.status, {(4, 1): 250}) is None


@pytest.mark.parametrize(("word", "celsius"), [(235, 23.5), (0xFF9C, -10.0), (0, 0.0)])
def test_the_xy_md02_temperature_is_signed_tenths(word: int, celsius: float) -> None:
    decoded = decode_point(XY.points["temperature"], XY.status, {(4, 1): word})
    assert decoded is not None
    assert decoded.value == pytest.approx(celsius)
    assert decoded.quality is Quality.GOOD


def test_a_float_register_pair_holding_nan_is_bad_not_a_number() -> None:
    spec = PointSpec.model_validate({"register": 10, "type": "float32"})
    nan_words = struct.unpack(">HH", struct.pack(">f", math.nan))
    decoded = decode_point(spec, None, {(3, 10): nan_words[0], (3, 11): nan_words[1]})
    assert decoded is not None
    assert decoded.quality is Quality.BAD
    assert math.isnan(decoded.value)
    assert "non-finite" in decoded.problem


def test_scale_and_offset_apply_after_the_decimal_point() -> None:
    spec = PointSpec.model_validate({"register": 0, "scale": 2.0, "offset": -40, "type": "int16"})
    decoded = decode_point(spec, None, {(3, 0): 50})
    assert decoded is not None
    assert decoded.value == 60.0


@given(st.lists(st.integers(0, 0xFFFF), min_size=4, max_size=4))
def test_any_register_words_give_a_usable_value_or_a_bad_nan(words: list[int]) -> None:
    image = {(3, i): w for i, w in enumerate(words)}
    for spec in GAS.points.values():
        decoded = decode_point(spec, GAS.status, image)
        assert decoded is not None
        if decoded.quality is Quality.BAD:
            assert math.isnan(decoded.value)
        else:
            assert math.isfinite(decoded.value)
