"""The data-plane failover mode as data: which records use it, where its alarms live, which
value a service's metric carries, and what the steady publisher may say.

Route 53 fails a PRIMARY failover record over to its SECONDARY when the PRIMARY's health
check is unhealthy. Here that health check follows CloudWatch alarms on one metric per
service, ``Arbiter/DataPlane PrimaryWanted`` (1: the primary site serves, 0: fail away),
which Arbiter publishes with PutMetricData in every alarm region. A switch is then a
datapoint, not a Route 53 API call. Route 53 health checks that monitor an alarm read its
metric's data stream, not the alarm's state, so ``SetAlarmState`` cannot drive them.

Shared by the runtime (the adapter, the steady publisher) and the CDK app, so the names the
stack creates and the names the functions publish cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from arbiter.core.config import DATAPLANE_PROVIDER, Config, DnsRecord, Service, SiteName
from arbiter.core.model import ServiceState
from arbiter.core.runbook import StepResult, StepStatus

NAMESPACE = "Arbiter/DataPlane"
"""Its own namespace: the functions' IAM statement allows PutMetricData here only, so they
cannot write the dashboard's ``Arbiter`` metrics by this path."""
METRIC = "PrimaryWanted"
PERIOD = 60
"""Seconds: the alarm period. Route 53 takes standard-resolution metrics only (60 s or more)."""
STATISTIC = "Minimum"
"""A period holding a 0 at all is in ALARM: a failover counts from the first datapoint that
asks for it, a failback only once a whole period holds 1s (the cautious direction waits)."""
WANTED = {SiteName.PRIMARY: 1.0, SiteName.SECONDARY: 0.0}
MAX_PER_CALL = 1000
"""Metrics one PutMetricData call may carry."""


def is_dataplane(config: Config, record: DnsRecord) -> bool:
    try:
        return config.dns_provider(record.provider).type == DATAPLANE_PROVIDER
    except KeyError:
        return False


def records(config: Config, service: Service) -> list[DnsRecord]:
    """The service's records that Route 53 fails over by itself."""
    return [r for r in service.dns.records if is_dataplane(config, r)]


def services(config: Config) -> list[Service]:
    """The services with at least one data-plane record, in the config's order."""
    return [s for s in config.services if records(config, s)]


def providers(config: Config) -> list[str]:
    """The names of the ``route53_failover`` providers records point at."""
    return sorted({r.provider for s in services(config) for r in records(config, s)})


def alarm_regions(config: Config) -> list[str]:
    """Where each service's alarms live, the home region first: the home region alone, or
    with standby regions the three regions of the lease table (home, standbys, witness), so
    that losing any one of them leaves two that still decide."""
    if not config.control.standby_regions:
        return [config.home_region]
    witness = config.control.witness_region
    return [*config.control_regions, *([witness] if witness else [])]


def health_threshold(config: Config) -> int:
    """How many of a service's alarm health checks must be healthy for the primary to serve:
    a majority, so one lost region's frozen check cannot outvote the two live ones."""
    return len(alarm_regions(config)) // 2 + 1


def alarm_name(config: Config, service: str) -> str:
    """The same name in every alarm region (alarm names are per region)."""
    return f"{config.app}-dataplane-{service}"


def dimensions(config: Config, service: str) -> list[dict[str, str]]:
    """``App`` too: two deployments in one account may have services of the same name."""
    return [{"Name": "App", "Value": config.app}, {"Name": "Service", "Value": service}]


def set_identifier(config: Config, site: SiteName) -> str:
    return f"{config.app}-{site.value}"


def step_names(config: Config, service: Service) -> list[str]:
    """The names of the runbook's data-plane DNS steps (``core/runbook.py``: one per
    provider and zone)."""
    return sorted({f"dns:{r.provider}:{r.zone}" for r in records(config, service)})


def committed_site(
    state: ServiceState, steps: Callable[[], Mapping[str, StepResult]]
) -> SiteName | None:
    """The site the service's metric must keep saying, or None: say nothing this time.

    With no switch under way it is the active site. While a transition's runbook is open,
    failed or settled by an operator, the DNS step publishes the new site itself, at its
    place in the runbook (after the old site's fence and hooks); until that step is done the
    metric must not move, and must not move back after: the publisher says the new site once
    a data-plane DNS step of the transition is done, and nothing before (silence leaves
    every health check at its last known status). ``steps`` reads the transition's step
    results (the data-plane ones), only when needed."""
    transition = state.transition
    if transition is None or transition.id == state.runbook_done:
        return state.active
    done = (StepStatus.DONE, StepStatus.WARNED)
    if any(result.status in done for result in steps().values()):
        return transition.to_site
    return None


@dataclass
class Published:
    """One PutMetricData round over the alarm regions."""

    wanted: dict[str, float]
    """service -> the value published (1 primary, 0 secondary)."""
    ok: list[str] = field(default_factory=list)
    """Regions that took every datapoint."""
    failed: dict[str, str] = field(default_factory=dict)
    """Region -> why not (the AWS error code, a timeout)."""
    needed: int = 1

    @property
    def enough(self) -> bool:
        """A majority of alarm regions took it: their health checks outvote the rest."""
        return len(self.ok) >= self.needed

    def lines(self) -> list[str]:
        values = ", ".join(f"{s}={v:g}" for s, v in sorted(self.wanted.items()))
        out = [f"published {NAMESPACE} {METRIC} {values} to {r}" for r in self.ok]
        out += [f"NOT published to {r}: {why}" for r, why in sorted(self.failed.items())]
        return out


def summary(published: Published, regions: Sequence[str]) -> str:
    return (
        f"{len(published.ok)} of {len(regions)} alarm regions took the datapoint "
        f"(at least {published.needed} needed)"
    )


def describe(config: Config, service: str, to: SiteName) -> list[str]:
    """What a switch to ``to`` does on the data plane, for ``arbiter plan``."""
    regions = alarm_regions(config)
    return [
        f"data plane: the switch publishes {NAMESPACE} {METRIC}={WANTED[to]:g} for {service} "
        f"to {', '.join(regions)} (PutMetricData; no Route 53 API call)",
        f"Route 53 answers with the {to.value} failover record set once "
        + (
            f"{health_threshold(config)} of the {len(regions)} alarms agree"
            if len(regions) > 1
            else "the alarm agrees"
        )
        + "; 'current' is what the zone's authoritative servers answer now",
    ]
