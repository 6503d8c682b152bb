"""The ``arbiter`` command: validate a config, probe from here, show a switch's plan, drill
it, run the demo, drive a deployed override function."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from arbiter.core.errors import ConfigError


def _validate(args: argparse.Namespace) -> int:
    from arbiter.core.config import PHASES, load_config

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        count = len(exc.problems)
        print(f"{exc.source}: invalid ({count} problem{'s' * (count != 1)})", file=sys.stderr)
        for problem in exc.problems:
            print(f"  error: {problem}", file=sys.stderr)
        return 1
    for warning in config.warnings():
        print(f"  warning: {warning}", file=sys.stderr)
    checks = sum(len(s.primary.checks) + len(s.secondary.checks) for s in config.services)
    records = sum(len(s.dns.records) for s in config.services)
    routes = sum(len(s.voip) for s in config.services)
    actions = sum(
        (site.fence is not None) + sum(len(site.hooks.of(p)) for p in PHASES)
        for s in config.services
        for site in (s.primary, s.secondary)
    )
    print(
        f"{args.file}: OK: {len(config.services)} service(s), {checks} checks, "
        f"{records} DNS records, {routes} VoIP routes, {actions} fences and hooks; "
        f"{len(config.probe_regions)} probe regions, "
        f"quorum {config.quorum}, fall {config.decision.fall}, rise {config.decision.rise}"
    )
    return 0


def _probe(args: argparse.Namespace) -> int:
    """One round from this machine: useful to try checks before deploying them."""
    from arbiter.core.config import load_config
    from arbiter.services.probe import probe_round

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    failed = False
    for obs in probe_round(config, "local", datetime.now(UTC)):
        for site, result in obs.sites.items():
            print(f"{obs.service} {site.value}: {'UP' if result.ok else 'FAILING'}")
            failed |= not result.ok
            for check in result.checks:
                optional = "" if check.required else " (optional)"
                print(
                    f"  {check.kind:<5} {check.name:<20} {'ok' if check.ok else 'FAIL':<5} "
                    f"{check.latency_ms:7.0f} ms  {check.reason}{optional}"
                )
                if check.warning:
                    print(f"        warning: {check.warning}")
    return 1 if failed else 0


def _plan(args: argparse.Namespace) -> int:
    """What a switch would change at every provider; changes nothing. Exit 1 when a
    provider or a record cannot be read, 2 for a bad config or service."""
    from arbiter.adapters.dns import Deps, Providers
    from arbiter.adapters.voip import VoipProviders
    from arbiter.core.config import SiteName, load_config
    from arbiter.local.plan import local_secrets, make_plan, render
    from arbiter.runtime import _client

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    names = [s.name for s in config.services]
    if args.service not in names:
        print(
            f"error: no service {args.service!r} in {args.file} (services: {', '.join(names)})",
            file=sys.stderr,
        )
        return 2
    secret = local_secrets(args.region or config.home_region)
    deps = Deps(aws=_client, secret=secret)
    providers = Providers(config, deps)
    voip = VoipProviders(config, deps)
    plan = make_plan(config, config.service(args.service), SiteName(args.to), providers, voip)
    print(render(plan, config), end="")
    return 1 if plan.problems else 0


def _drill(args: argparse.Namespace) -> int:
    """Rehearse a switch without making it: here (``--config``) or in the deployed act
    function (``--function``). Exit 1 when an item fails, 2 for a bad config, service or
    arguments."""
    from arbiter.local.drill import run_local, run_remote

    if args.config is not None:
        if args.operator is not None:
            print("error: --operator goes with --function (the deployed drill)", file=sys.stderr)
            return 2
        return run_local(
            args.config, args.service, args.active or "primary", args.region, args.json
        )
    if args.active is not None:
        print(
            "error: --active goes with --config; the deployed drill starts from the site the "
            "service's state says is active",
            file=sys.stderr,
        )
        return 2
    return run_remote(args.function, args.service, args.region, args.operator, args.json)


def _simulate(args: argparse.Namespace) -> int:
    """Every file is reported, the bad ones too: a bad file is one line per problem
    (``FILE: FIELD: what is wrong``), or one line in all with ``--summary``."""
    from arbiter.local.simulator import report, simulate

    worst = 0
    for path in args.scenarios:
        try:
            result = simulate(path)
        except ConfigError as exc:
            if args.summary:
                print(f"{path}: invalid: {'; '.join(exc.problems)}")
            else:
                for problem in exc.problems:
                    print(f"{path}: {problem}", file=sys.stderr)
            worst = 2
            continue
        if args.summary:
            verdict = "ok" if result.ok else "NOT AS EXPECTED: " + "; ".join(result.failures)
            switches = ", ".join(
                f"{s.to.value}@{s.at:.0f}s" + (f" ({s.detection:.0f} s)" if s.detection else "")
                for s in result.switches
            )
            print(f"{path}: {verdict}; switches: {switches or 'none'}")
        else:
            print(report(result))
        if not result.ok:
            worst = max(worst, 1)
    return worst


def _demo(args: argparse.Namespace) -> int:
    from arbiter.local.demo import run

    return run(rehearsal=args.rehearsal)


def _chaos(args: argparse.Namespace) -> int:
    from arbiter.local.chaos import SCENARIOS, run

    if args.list:
        for scenario in SCENARIOS:
            print(f"{scenario.name:<28} {scenario.title}")
        return 0
    return run(args.scenario or (), json_output=args.json, timeline=args.timeline)


def _override(args: argparse.Namespace) -> int:
    """Invoke the deployed override function with one command and print its answer."""
    payload: dict[str, Any] = {"command": args.command}
    if args.service:
        payload["service"] = args.service
    if args.operator:
        payload["operator"] = args.operator
    if args.command == "switch":
        payload.update(to=args.to, reason=args.reason, force=args.force)
    elif args.command in ("pause", "ack") and args.reason:
        payload["reason"] = args.reason
    import boto3

    client = boto3.client("lambda", region_name=args.region)
    response = client.invoke(FunctionName=args.function, Payload=json.dumps(payload).encode())
    answer = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        print(json.dumps(answer, indent=2), file=sys.stderr)
        return 2
    print(json.dumps(answer, indent=2) if args.json else render_answer(answer))
    return 0 if isinstance(answer, dict) and answer.get("ok") else 1


def render_answer(answer: Any) -> str:
    """The override function's answer, for a person."""
    if not isinstance(answer, dict):
        return json.dumps(answer)
    lines = []
    if not answer.get("ok"):
        lines.append(f"refused: {answer.get('error')}")
        lines += [f"  {problem}" for problem in answer.get("problems", [])]
    elif answer.get("changed"):
        started = f" (switch #{answer['transition']} started)" if answer.get("transition") else ""
        lines.append(f"done{started}")
    state = answer.get("state")
    if isinstance(state, dict):
        since = f" since {state['since']}" if state.get("since") else ""
        lines.append(f"{state['service']}: {state['status']}{since} (version {state['version']})")
        lines.append(f"  reason: {state['reason']}")
        sites = ", ".join(f"{site} {health}" for site, health in state["sites"].items())
        lines.append(f"  sites: {sites}")
        for region, view in state.get("regions", {}).items():
            seen = ", ".join(f"{site} {health}" for site, health in view.items())
            lines.append(f"    {region}: {seen}")
        if state.get("pinned"):
            lines.append(
                f"  pinned to {state['pinned']} by an operator since {state.get('pinned_at')}: "
                "no automatic failback until `arbiter resume`"
            )
        if state.get("open_runbook"):
            lines.append(f"  switch #{state['open_runbook']} is being carried out")
        if state.get("conditions"):
            lines.append(f"  conditions: {', '.join(state['conditions'])}")
        if state.get("pending_alerts"):
            lines.append(f"  {state['pending_alerts']} alert(s) waiting to be delivered")
        if state.get("failed"):
            lines.append(f"  FAILED switch #{state['failed']}: send `arbiter ack` once fixed")
    for event in answer.get("events", []):
        lines.append(f"  {event['at']}  {event['kind']}: {event['message']}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arbiter", description="External multi-region failover monitor."
    )
    sub = parser.add_subparsers(dest="verb", required=True)

    p = sub.add_parser("validate", help="check a config file; print every problem")
    p.add_argument("file")
    p.set_defaults(run=_validate)

    p = sub.add_parser("probe", help="run one probe round from this machine")
    p.add_argument("file")
    p.set_defaults(run=_probe)

    p = sub.add_parser(
        "plan", help="show what a switch would change at every DNS provider; change nothing"
    )
    p.add_argument("file")
    p.add_argument("service")
    p.add_argument("--to", required=True, choices=["primary", "secondary"])
    p.add_argument("--region", default=None, help="for Secrets Manager (default: home_region)")
    p.set_defaults(run=_plan)

    p = sub.add_parser(
        "drill",
        help="rehearse a switch: read every record and number, dry-run every fence and hook, "
        "ask the gate; change nothing",
    )
    p.add_argument("service")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", metavar="FILE", help="run it here, with local credentials")
    where.add_argument(
        "--function",
        metavar="OVERRIDE_FUNCTION",
        help="run it in the deployed act function, through this override function",
    )
    p.add_argument(
        "--active",
        choices=["primary", "secondary"],
        default=None,
        help="with --config: the site serving now (default: primary)",
    )
    p.add_argument(
        "--region",
        default=None,
        help="with --config: for Secrets Manager (default: home_region); with --function: "
        "the function's region",
    )
    p.add_argument("--operator", default=None, help="with --function: your name, for the log")
    p.add_argument("--json", action="store_true", help="print the checklist as JSON")
    p.set_defaults(run=_drill)

    p = sub.add_parser("simulate", help="run scenarios against the core in virtual time")
    p.add_argument("scenarios", nargs="+", metavar="SCENARIO.yaml")
    p.add_argument("--summary", action="store_true", help="one line per scenario")
    p.set_defaults(run=_simulate)

    p = sub.add_parser("demo", help="fail over and back between two local data centers")
    p.add_argument(
        "--rehearsal",
        action="store_true",
        help="switch a real BIND on loopback too (needs named), and verify at its 4 servers",
    )
    p.set_defaults(run=_demo)

    p = sub.add_parser(
        "chaos", help="break sites, regions, AWS and the act function; count what goes wrong"
    )
    p.add_argument("--scenario", action="append", metavar="NAME", help="run this one (repeatable)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--timeline", action="store_true", help="print each scenario's timeline")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.set_defaults(run=_chaos)

    for command in ("status", "switch", "pause", "resume", "ack"):
        p = sub.add_parser(command, help=f"{command}: through the deployed override function")
        p.add_argument("--function", required=True, help="the override function's name")
        p.add_argument("--region", default=None)
        p.add_argument("--service", default=None)
        p.add_argument("--operator", default=None, help="your name, for the event log")
        p.add_argument("--json", action="store_true", help="print the raw answer")
        if command == "switch":
            p.add_argument("to", choices=["primary", "secondary"])
            p.add_argument("--reason", required=True)
            p.add_argument("--force", action="store_true", help="skip the health gate")
        if command in ("pause", "ack"):
            p.add_argument("--reason", default=None)
        p.set_defaults(run=_override, command=command)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sys.exit(args.run(args))


if __name__ == "__main__":
    main()
