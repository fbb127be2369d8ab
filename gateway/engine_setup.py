"""What the engine builds from the config before it runs: the escalation ladders of the site and
each sensor's effective set points (device over zone over site over the class's preset), with the
combinations that cannot protect anybody."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from alerting.escalation import EscalationLevel, EscalationPolicy, PolicyBook, PolicyRule
from alerting.presets import Preset, device_layer, resolve
from gateway.config import EscalationLevelConfig, HazgwConfig, Thresholds
from gateway.registry import Registry


def policy_from(cfg: HazgwConfig) -> EscalationPolicy:
    return _policy(cfg.escalation.levels, cfg.escalation.repeat_s)


def _policy(levels: list[EscalationLevelConfig], repeat_s: float | None) -> EscalationPolicy:
    steps = tuple(EscalationLevel(lv.name, tuple(lv.recipients), lv.delay_s) for lv in levels)
    return EscalationPolicy(steps, repeat_s)


def policy_book_from(cfg: HazgwConfig) -> PolicyBook:
    """Every ladder of the site: the default, per alarm kind and grade, and for deadlines."""
    esc = cfg.escalation
    rules = tuple(
        PolicyRule(
            _policy(p.levels, p.repeat_s), frozenset(p.kinds), frozenset(p.grades),
            {str(k): v for k, v in p.start_level.items()},
        )
        for p in esc.policies
    )  # fmt: skip
    late = esc.deadlines
    deadline = None if late is None else _policy(late.levels, late.repeat_s)
    starts = {str(k): v for k, v in esc.start_level.items()}
    return PolicyBook(policy_from(cfg), starts, rules, deadline)


def _layer(t: Thresholds | None) -> dict[str, Any]:
    return {} if t is None else t.model_dump(exclude_none=True)


def preset_issues(cfg: HazgwConfig) -> Iterator[str]:
    """Layered set points that cannot work, as "@devices[i].thresholds: ..." (the form of the
    config loader's cross check, which can yield these to name file, key and line)."""
    det, known = cfg.detection, {z.id for z in cfg.zones}
    for name in det.zones:
        if name not in known:
            yield f"@detection.zones.{name}: {name!r} is not in zones"
    for i, dev in enumerate(cfg.devices):
        cls, zone = dev.sensor_class, det.zones.get(dev.zone, {})
        layers = [_layer(det.site.get(cls)), _layer(zone.get(cls)), _layer(dev.thresholds)]
        for problem in resolve(cls, layers)[1]:
            yield f"@devices[{i}].thresholds: {problem} (device > zone > site > preset)"


def effective_presets(cfg: HazgwConfig, registry: Registry) -> tuple[list[Preset], list[str]]:
    """Site and zone overrides laid under each device's own settings."""
    det, presets, problems = cfg.detection, [], []
    for s in registry.sensors:
        zone = det.zones.get(s.zone, {}).get(s.sensor_class)
        layers = [_layer(det.site.get(s.sensor_class)), _layer(zone), device_layer(s.preset)]
        preset, found = resolve(s.sensor_class, layers)
        presets.append(preset)
        problems += [f"device {s.device}: {p} (device > zone > site > preset)" for p in found]
    return presets, problems
