"""Builders for test data: configs, observations and states, with readable defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from arbiter.core.config import Config, SiteName, parse_config
from arbiter.core.model import CheckResult, Observation, SiteResult

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
REGIONS = ["eu-west-1", "eu-central-1", "us-east-1"]


def config_dict(**overrides: Any) -> dict[str, Any]:
    service: dict[str, Any] = {
        "name": "web",
        "failback": {"policy": "automatic", "hold": 120},
        "primary": {
            "label": "Frankfurt DC",
            "checks": [{"type": "http", "name": "health", "url": "http://127.0.0.1:1/health"}],
        },
        "secondary": {
            "label": "Amsterdam DC",
            "checks": [{"type": "http", "name": "health", "url": "http://127.0.0.1:2/health"}],
        },
        "dns": {
            "records": [
                {
                    "zone": "ZEXAMPLE",
                    "name": "www.example.com",
                    "type": "A",
                    "ttl": 60,
                    "values": {"primary": ["203.0.113.10"], "secondary": ["198.51.100.10"]},
                }
            ]
        },
    }
    service.update(overrides.pop("service", {}))
    data: dict[str, Any] = {
        "home_region": "eu-west-1",
        "probe_regions": list(REGIONS),
        "probe": {"interval": 60},
        "decision": {"fall": 2, "rise": 2},
        "notifications": {"emails": ["oncall@example.com"]},
        "services": [service],
    }
    data.update(overrides)
    return data


def make_config(**overrides: Any) -> Config:
    return parse_config(config_dict(**overrides))


def obs(
    region: str,
    at: datetime,
    primary: bool = True,
    secondary: bool = True,
    service: str = "web",
) -> Observation:
    def site(ok: bool) -> SiteResult:
        reason = "ok" if ok else "status 503"
        return SiteResult.of(
            [CheckResult(name="health", kind="http", ok=ok, latency_ms=12.0, reason=reason)]
        )

    return Observation(
        service=service,
        region=region,
        round_at=at,
        sites={SiteName.PRIMARY: site(primary), SiteName.SECONDARY: site(secondary)},
    )


def round_of(
    n: int,
    primary: bool | dict[str, bool] = True,
    secondary: bool | dict[str, bool] = True,
    regions: list[str] | None = None,
    interval: int = 60,
) -> list[Observation]:
    """Round ``n`` (at T0 + n intervals) from every region; per-region overrides by dict."""
    at = T0 + timedelta(seconds=n * interval)
    out = []
    for region in regions or REGIONS:
        p = primary.get(region, True) if isinstance(primary, dict) else primary
        s = secondary.get(region, True) if isinstance(secondary, dict) else secondary
        out.append(obs(region, at, p, s))
    return out


def at(n: int, interval: int = 60) -> datetime:
    return T0 + timedelta(seconds=n * interval)
