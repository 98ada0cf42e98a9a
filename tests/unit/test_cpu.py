from __future__ import annotations

import pytest

from pytest_orchlab.measure.cpu import cpu_ceiling, cpu_percent


def sample(total: int, pre_total: int, system: int, pre_system: int, online: int = 2) -> dict[str, object]:
    return {
        "cpu_stats": {"cpu_usage": {"total_usage": total}, "system_cpu_usage": system, "online_cpus": online},
        "precpu_stats": {"cpu_usage": {"total_usage": pre_total}, "system_cpu_usage": pre_system},
    }


def test_docker_stats_formula() -> None:
    # one full core busy for 1 s on a 2-core host: system advanced 2 s of CPU time
    assert cpu_percent(sample(2_000_000_000, 1_000_000_000, 4_000_000_000, 2_000_000_000)) == pytest.approx(100.0)


def test_first_streamed_sample_has_no_baseline() -> None:
    first = {"cpu_stats": {"cpu_usage": {"total_usage": 5}, "system_cpu_usage": 9, "online_cpus": 2}, "precpu_stats": {}}
    assert cpu_percent(first) is None


def test_online_cpus_falls_back_to_percpu_length() -> None:
    s = sample(150, 100, 300, 200)
    del s["cpu_stats"]["online_cpus"]  # type: ignore[attr-defined]
    s["cpu_stats"]["cpu_usage"]["percpu_usage"] = [1, 2, 3, 4]  # type: ignore[index]
    assert cpu_percent(s) == pytest.approx(200.0)


@pytest.mark.parametrize(
    ("host_config", "ceiling"),
    [({}, 100.0), ({"NanoCpus": 500_000_000}, 50.0), ({"CpuQuota": 25_000, "CpuPeriod": 100_000}, 25.0),
     ({"NanoCpus": 2_000_000_000}, 100.0)],
)
def test_ceiling(host_config: dict[str, int], ceiling: float) -> None:
    assert cpu_ceiling(host_config)[0] == pytest.approx(ceiling)
