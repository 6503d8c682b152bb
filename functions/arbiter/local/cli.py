"""The ``arbiter`` command: validate a config, probe from here, show a switch's plan, drill
it, simulate it, price it (``cost``), run the demo, and drive the deployed override function
(status, history, switch, pause, resume, ack).

Every command takes ``--json`` for scripts. Exit codes: 0 ok, 1 a finding (a check failed,
a command was refused, a scenario was not as expected), 2 an error (bad arguments or
config, and every AWS failure: one line, never a traceback; see ``local/remote.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

from arbiter.core.errors import ConfigError
from arbiter.local.remote import EXIT, RemoteError
from arbiter.local.show import render_answer, render_history, render_status

__all__ = ["build_parser", "main", "render_answer", "render_history", "render_status"]


def version() -> str:
    """The installed package's version (pyproject.toml), or the source tree's."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("arbiter")
    except PackageNotFoundError:
        import tomllib
        from pathlib import Path

        pyproject = Path(__file__).resolve().parents[3] / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text())["project"]["version"])
        except (OSError, KeyError, ValueError):
            return "unknown"


def emit(args: argparse.Namespace, data: Any) -> None:
    """A ``--json`` answer: one document on stdout."""
    print(json.dumps(data, indent=2))


def fail(args: argparse.Namespace, message: str, code: int = EXIT, **extra: Any) -> int:
    """An error: ``error: ...`` on stderr, or ``{"ok": false, "error": ...}`` on stdout
    with ``--json``; the same exit code either way."""
    if getattr(args, "json", False):
        emit(args, {"ok": False, "error": message, **extra})
    else:
        print(f"error: {message}", file=sys.stderr)
        for problem in extra.get("problems", []):
            print(f"  {problem}", file=sys.stderr)
    return code


# -- local commands -------------------------------------------------------------------


def _validate(args: argparse.Namespace) -> int:
    from arbiter.core.config import PHASES, load_config

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        count = len(exc.problems)
        if args.json:
            error = f"{args.file}: invalid ({count} problem{'s' * (count != 1)})"
            emit(
                args,
                {"ok": False, "error": error, "file": args.file, "problems": exc.problems},
            )
            return 1
        print(f"{exc.source}: invalid ({count} problem{'s' * (count != 1)})", file=sys.stderr)
        for problem in exc.problems:
            print(f"  error: {problem}", file=sys.stderr)
        return 1
    warnings = list(config.warnings())
    checks = sum(len(s.primary.checks) + len(s.secondary.checks) for s in config.services)
    records = sum(len(s.dns.records) for s in config.services)
    routes = sum(len(s.voip) for s in config.services)
    actions = sum(
        (site.fence is not None) + sum(len(site.hooks.of(p)) for p in PHASES)
        for s in config.services
        for site in (s.primary, s.secondary)
    )
    if args.json:
        emit(
            args,
            {
                "ok": True,
                "file": args.file,
                "app": config.app,
                "home_region": config.home_region,
                "services": [s.name for s in config.services],
                "checks": checks,
                "dns_records": records,
                "voip_routes": routes,
                "fences_and_hooks": actions,
                "probe_regions": config.probe_regions,
                "quorum": config.quorum,
                "fall": config.decision.fall,
                "rise": config.decision.rise,
                "warnings": warnings,
                "problems": [],
            },
        )
        return 0
    for warning in warnings:
        print(f"  warning: {warning}", file=sys.stderr)
    print(
        f"{args.file}: OK: {len(config.services)} service(s), {checks} checks, "
        f"{records} DNS records, {routes} VoIP routes, {actions} fences and hooks; "
        f"{len(config.probe_regions)} probe regions, "
        f"quorum {config.quorum}, fall {config.decision.fall}, rise {config.decision.rise}"
    )
    return 0


def _cost(args: argparse.Namespace) -> int:
    """The monthly cost of a config next to Route 53 health checks for the same checks.
    Exit 0 whether or not it meets the target (the output says), 2 for a bad config."""
    from arbiter.local import remote
    from arbiter.local.cost import Assumptions, estimate, render, to_json

    if args.file and args.config and args.file != args.config:
        raise UsageError(f"two configs named: {args.file!r} and --config {args.config!r}")
    path = args.file or remote.find_config(args.config)
    if path is None:
        return fail(args, "no config found: pass FILE (or --config FILE) or set ARBITER_CONFIG")
    config = _config_or_fail(args, str(path), 2)
    if config is None:
        return 2
    assumptions = Assumptions(
        probe_ms=args.probe_ms,
        decide_ms=args.decide_ms,
        tracing=args.tracing,
        dashboard=args.dashboard,
        data_plane=args.data_plane,
        r53_latency=args.route53_latency,
    )
    report = estimate(config, str(path), assumptions)
    if args.json:
        emit(args, to_json(report))
    else:
        print(render(report), end="")
    return 0


def _milliseconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of milliseconds") from None
    if not 1 <= value <= 900_000:
        raise argparse.ArgumentTypeError(f"{value:g} ms is outside 1..900000")
    return value


def _config_or_fail(args: argparse.Namespace, path: str, code: int) -> Any:
    """The config, or None once its problems are printed."""
    from arbiter.core.config import load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        if args.json:
            emit(args, {"ok": False, "error": f"{path}: invalid config", "problems": exc.problems})
        else:
            for problem in exc.problems:
                print(f"error: {problem}", file=sys.stderr)
        return None


def _probe(args: argparse.Namespace) -> int:
    """One round from this machine: useful to try checks before deploying them."""
    from arbiter.services.probe import probe_round

    config = _config_or_fail(args, args.file, 1)
    if config is None:
        return 1
    observations = probe_round(config, "local", datetime.now(UTC))
    failed = any(not r.ok for obs in observations for r in obs.sites.values())
    if args.json:
        emit(
            args,
            {"ok": not failed, "observations": [o.model_dump(mode="json") for o in observations]},
        )
        return 1 if failed else 0
    for obs in observations:
        for site, result in obs.sites.items():
            print(f"{obs.service} {site.value}: {'UP' if result.ok else 'FAILING'}")
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
    from arbiter.core.config import SiteName
    from arbiter.local.plan import local_secrets, make_plan, render
    from arbiter.runtime import _client

    config = _config_or_fail(args, args.file, 2)
    if config is None:
        return 2
    names = [s.name for s in config.services]
    if args.service not in names:
        return fail(
            args, f"no service {args.service!r} in {args.file} (services: {', '.join(names)})"
        )
    secret = local_secrets(args.region or config.home_region)
    deps = Deps(aws=_client, secret=secret)
    providers = Providers(config, deps)
    voip = VoipProviders(config, deps)
    plan = make_plan(config, config.service(args.service), SiteName(args.to), providers, voip)
    if args.json:
        emit(args, plan_json(plan))
    else:
        print(render(plan, config), end="")
    return 1 if plan.problems else 0


def plan_json(plan: Any) -> dict[str, Any]:
    """``arbiter plan --json``: per record and per VoIP item, what it is and would be."""

    def values(record: Any) -> dict[str, Any] | None:
        return None if record is None else {"ttl": record.ttl, "values": list(record.values)}

    return {
        "ok": not plan.problems,
        "service": plan.service,
        "to": plan.to.value,
        "zones": [
            {
                "provider": zone.provider,
                "kind": zone.kind,
                "zone": zone.zone,
                "records": [
                    {
                        "name": r.record.name,
                        "type": r.record.type.value,
                        "action": r.action,
                        "current": values(r.current),
                        "new": values(r.record),
                        "error": r.error,
                    }
                    for r in zone.records
                ],
            }
            for zone in plan.zones
        ],
        "routes": [
            {
                "provider": route.step.provider,
                "kind": route.kind,
                "name": route.step.name,
                "error": route.error,
                "items": [
                    {"item": item.item, "action": route.action(item), "new": item.fields}
                    for item in route.step.items
                ],
            }
            for route in plan.routes
        ],
        "steps": plan.steps,
        "checks": plan.checks,
        "problems": plan.problems,
    }


def _drill(args: argparse.Namespace) -> int:
    """Rehearse a switch without making it: here (``--config``) or in the deployed act
    function (the default, through the override function). Exit 1 when an item fails, 2
    for a bad config, service or arguments, and for every AWS error."""
    from arbiter.local import remote
    from arbiter.local.drill import run_local, show_answer

    if args.config is not None:
        if args.operator is not None:
            return fail(args, "--operator goes with the deployed drill, not with --config")
        return run_local(
            args.config, args.service, args.active or "primary", args.region, args.json
        )
    if args.active is not None:
        return fail(
            args,
            "--active goes with --config; the deployed drill starts from the site the "
            "service's state says is active",
        )
    target = remote.find_target(args.function, args.region, None, config_flag=None)
    payload: dict[str, Any] = {"command": "drill", "service": args.service}
    if args.operator:
        payload["operator"] = args.operator
    answer = remote.invoke(
        target, payload, retry=False, read_timeout=remote.DRILL_READ_TIMEOUT
    )  # one attempt: a retried drill would run twice
    return show_answer(answer, args.json)


def _notify_test(args: argparse.Namespace) -> int:
    """A test alert through every channel: from the deployed notify function (found like the
    override function, by the stack's ``NotifyFunctionName``), or ``--here``. Exit 0 when
    every channel took it, 1 when one failed, 2 when it could not be sent at all."""
    from arbiter.local import notify_test, remote

    who = _operator(args) or "unknown"
    if args.here:
        if args.function:
            return fail(args, "--function goes with the deployed test, not with --here")
        path = remote.find_config(args.config)
        if path is None:
            return fail(args, "no config found: pass --config FILE or set ARBITER_CONFIG")
        return notify_test.run(str(path), args.region, args.json, who)
    target = remote.find_target(args.function, args.region, args.config, output=NOTIFY_OUTPUT)
    answer = remote.invoke(target, {"notify_test": {"operator": who}}, retry=False)
    if not isinstance(answer, dict) or not isinstance(answer.get("channels"), list):
        return fail(args, f"unexpected answer from {target.function}: {json.dumps(answer)[:200]}")
    if args.json:
        emit(args, answer)
    else:
        print(notify_test.render(answer))
    return 0 if answer.get("ok") else 1


def _simulate(args: argparse.Namespace) -> int:
    """Scenario files, and/or the built-in templates against ``--config``. Every file is
    reported, the bad ones too: a bad file is one line per problem (``FILE: FIELD: what is
    wrong``), or one line in all with ``--summary``."""
    if not args.scenarios and args.config is None:
        return fail(args, "name SCENARIO.yaml files, or --config FILE to simulate your config")
    worst, documents = 0, list[dict[str, Any]]()
    runs = [_simulate_config] if args.config is not None else []
    for run in [*runs, *([_simulate_files] if args.scenarios else [])]:
        code, found = run(args)
        worst, documents = max(worst, code), [*documents, *found]
    if args.json:
        emit(args, {"ok": worst == 0, "scenarios": documents})
    return worst


def _switches_json(result: Any) -> list[dict[str, Any]]:
    return [
        {"at": s.at, "to": s.to.value, "by": s.by, "detection": s.detection, "false": s.false}
        for s in result.switches
    ]


def _result_json(name: str, source: str, result: Any) -> dict[str, Any]:
    return {
        "name": name,
        "source": source,
        "ok": result.ok,
        "failures": result.failures,
        "switches": _switches_json(result),
        "false_switches": result.false_switches,
        "missed_switches": len(result.missed),
        "final_status": result.final.status.value if result.final else None,
        "rounds": result.rounds,
    }


def _simulate_files(args: argparse.Namespace) -> tuple[int, list[dict[str, Any]]]:
    from arbiter.local.simulator import report, simulate

    worst, documents = 0, list[dict[str, Any]]()
    for path in args.scenarios:
        try:
            result = simulate(path)
        except ConfigError as exc:
            documents.append({"source": path, "ok": False, "problems": exc.problems})
            if args.json:
                pass
            elif args.summary:
                print(f"{path}: invalid: {'; '.join(exc.problems)}")
            else:
                for problem in exc.problems:
                    print(f"{path}: {problem}", file=sys.stderr)
            worst = 2
            continue
        documents.append(_result_json(result.scenario.name, path, result))
        if args.json:
            pass
        elif args.summary:
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
    return worst, documents


def _simulate_config(args: argparse.Namespace) -> tuple[int, list[dict[str, Any]]]:
    """The built-in scenario templates (``local/templates.py``) against the config."""
    from arbiter.local.simulator import report
    from arbiter.local.templates import run_templates, timing

    config = _config_or_fail(args, args.config, 2)
    if config is None:
        return 2, []
    names = [s.name for s in config.services]
    if args.service is not None and args.service not in names:
        fail(args, f"no service {args.service!r} in {args.config} (services: {', '.join(names)})")
        return 2, []
    service = config.service(args.service or names[0])
    t = timing(config, service)
    runs = run_templates(args.config, config, service)
    if not args.json:
        print(
            f"Simulating {service.name} from {args.config}: {len(config.probe_regions)} regions, "
            f"interval {t.interval:g} s, fall {t.fall}, rise {t.rise}, quorum {config.quorum}, "
            f"failback {service.failback.policy}; a failover is due within "
            f"{t.detection:.0f} s of a fault"
        )
    documents, worst = list[dict[str, Any]](), 0
    width = max(len(run.name) for run in runs)
    for run in runs:
        if run.result is None:
            skipped = {"name": run.name, "source": args.config, "ok": True}
            documents.append({**skipped, "skipped": run.skipped})
            if not args.json:
                print(f"  skip  {run.name:<{width}}  {run.skipped}")
            continue
        result = run.result
        documents.append(_result_json(run.name, args.config, result))
        if not result.ok:
            worst = 1
        if args.json:
            continue
        switches = "; ".join(
            f"{s.to.value} at {_clock(s.at)}"
            + (f" ({s.detection:.0f} s after the fault)" if s.detection is not None else "")
            + ("  FALSE SWITCH" if s.false else "")
            for s in result.switches
        )
        verdict = "ok  " if result.ok else "FAIL"
        print(f"  {verdict}  {run.name:<{width}}  {switches or 'no switch'}")
        if not result.ok:
            for failure in result.failures:
                print(f"        not as expected: {failure}")
            if args.summary is False:
                for line in report(result).splitlines():
                    print(f"        {line}".rstrip())
    if not args.json:
        bad = sum(1 for d in documents if not d["ok"])
        print(
            f"{len(runs)} scenarios: "
            + ("all as expected" if not bad else f"{bad} NOT as expected")
        )
    return worst, documents


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


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


# -- the deployed override function ------------------------------------------------------

REMOTE_COMMANDS = ("status", "history", "switch", "pause", "resume", "ack")
"""Commands that go to the deployed override function (``drill`` too, with its own
options). Another one is added with ``add_remote`` and a payload in ``_payload``."""
WRITES = frozenset({"switch", "pause", "resume", "ack"})
"""Sent once: a retried invoke could apply them twice."""


NOTIFY_OUTPUT = "NotifyFunctionName"
"""The control stack's output naming the notify function."""


def _operator(args: argparse.Namespace) -> str | None:
    """``--operator``, else ``$ARBITER_OPERATOR``, else the login name: every change in the
    event log names someone."""
    if args.operator:
        return str(args.operator)
    if os.environ.get("ARBITER_OPERATOR"):
        return os.environ["ARBITER_OPERATOR"]
    import getpass

    try:
        name = getpass.getuser()
    except (OSError, KeyError):  # no login name (a container with an unnamed uid)
        return None
    return name[:128] or None


def _service_and_site(args: argparse.Namespace) -> tuple[str | None, str]:
    """``switch [SERVICE] {primary,secondary}``: the service may be left out."""
    words = list(args.words)
    if len(words) == 1:
        service, to = None, words[0]
    elif len(words) == 2:
        service, to = words
    else:
        raise UsageError("switch takes [SERVICE] {primary,secondary}")
    if to not in ("primary", "secondary"):
        raise UsageError(f"switch: the site is primary or secondary, not {to!r}")
    return service, to


class UsageError(Exception):
    """The arguments do not make a command (exit 2, one line)."""


def _service(args: argparse.Namespace, positional: str | None) -> str | None:
    alias = getattr(args, "service_option", None)
    if positional and alias and positional != alias:
        raise UsageError(f"two services named: {positional!r} and --service {alias!r}")
    return positional or alias


def _payload(args: argparse.Namespace) -> dict[str, Any]:
    """The override command the arguments make (see core/machine.py's commands)."""
    command = args.command
    if command == "switch":
        positional, to = _service_and_site(args)
    else:
        positional, to = getattr(args, "service", None), None
    payload: dict[str, Any] = {"command": command}
    service = _service(args, positional)
    if service:
        payload["service"] = service
    if command in WRITES:
        operator = _operator(args)
        if operator:
            payload["operator"] = operator
    if command == "switch":
        payload.update(to=to, reason=args.reason, force=args.force)
    elif command in ("pause", "ack") and args.reason:
        payload["reason"] = args.reason
    elif command == "history":
        payload.update(limit=args.limit, kinds=args.kinds)
        if args.before:
            payload["before"] = args.before
    return payload


def _override(args: argparse.Namespace) -> int:
    """Invoke the deployed override function with one command and print its answer."""
    from arbiter.local import remote

    try:
        payload = _payload(args)
    except UsageError as exc:
        return fail(args, str(exc))
    target = remote.find_target(args.function, args.region, args.config)
    answer = remote.invoke(target, payload, retry=args.command not in WRITES)
    leader = answer.get("leader") if isinstance(answer, dict) else None
    if leader and not answer.get("ok") and args.function is None and leader != target.region:
        # A standby control region refused it (nothing written): send it to the leader.
        target = remote.find_target(None, leader, args.config)
        answer = remote.invoke(target, payload, retry=args.command not in WRITES)
    if not isinstance(answer, dict):
        return fail(args, f"unexpected answer from {target.function}: {json.dumps(answer)[:200]}")
    if args.json:
        emit(args, answer)
    elif args.command == "status" and answer.get("ok"):
        print(render_status(answer))
    elif args.command == "history" and answer.get("ok"):
        print(render_history(answer, args.limit))
    else:
        print(render_answer(answer))
    if answer.get("ok"):
        return 0
    return 2 if answer.get("error") == "invalid override" else 1


# -- the parser ---------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error with ``--json`` is ``{"ok": false, ...}`` on stdout
    (exit 2, as argparse's own)."""

    json_errors = False

    def error(self, message: str) -> NoReturn:
        if Parser.json_errors:
            print(json.dumps({"ok": False, "error": f"{self.prog}: {message}"}, indent=2))
            sys.exit(EXIT)
        super().error(message)


def add_remote(
    sub: Any, name: str, help: str, run: Callable[[argparse.Namespace], int] = _override
) -> argparse.ArgumentParser:
    """A command for the deployed Arbiter: how to find it, who is asking, and --json."""
    p: argparse.ArgumentParser = sub.add_parser(name, help=help)
    find = p.add_argument_group("where the deployed Arbiter is (default: from the config)")
    find.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="the config it was deployed with: its app and home_region find the stack "
        "(default: $ARBITER_CONFIG, ./arbiter.yaml, ./arbiter.example.yaml)",
    )
    find.add_argument("--region", default=None, help="default: the config's home_region")
    find.add_argument(
        "--function", default=None, help="the function's name (default: the stack's output)"
    )
    p.add_argument("--operator", default=None, help="your name, for the event log (default: login)")
    p.add_argument("--json", action="store_true", help="print the function's answer as JSON")
    p.set_defaults(run=run, command=name)
    return p


def _page_size(text: str) -> int:
    try:
        size = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= size <= 200:
        raise argparse.ArgumentTypeError(f"{size} is outside 1..200")
    return size


def _service_alias(p: argparse.ArgumentParser) -> None:
    """``--service NAME``: what these commands took before SERVICE was positional."""
    p.add_argument(
        "--service", dest="service_option", metavar="SERVICE", default=None, help="as SERVICE"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="arbiter", description="External multi-region failover monitor.")
    parser.add_argument("--version", action="version", version=f"arbiter {version()}")
    sub = parser.add_subparsers(dest="verb", required=True)

    p: argparse.ArgumentParser = sub.add_parser(
        "validate", help="check a config file; print every problem"
    )
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="the result as JSON")
    p.set_defaults(run=_validate)

    p = sub.add_parser("probe", help="run one probe round from this machine")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="the observations as JSON")
    p.set_defaults(run=_probe)

    p = sub.add_parser(
        "plan", help="show what a switch would change at every DNS provider; change nothing"
    )
    p.add_argument("file")
    p.add_argument("service")
    p.add_argument("--to", required=True, choices=["primary", "secondary"])
    p.add_argument("--region", default=None, help="where secrets are read (default: home_region)")
    p.add_argument("--json", action="store_true", help="the plan as JSON")
    p.set_defaults(run=_plan)

    p = sub.add_parser(
        "drill",
        help="rehearse a switch: read every record and number, dry-run every fence and hook, "
        "ask the gate; change nothing",
    )
    p.add_argument("service")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--config", metavar="FILE", help="run it here, with local credentials, from this config"
    )
    where.add_argument(
        "--function",
        metavar="OVERRIDE_FUNCTION",
        help="the deployed override function (default: found from $ARBITER_CONFIG, "
        "./arbiter.yaml or ./arbiter.example.yaml and the control stack's outputs)",
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
        help="with --config: where secrets are read (default: home_region); else the "
        "function's region",
    )
    p.add_argument("--operator", default=None, help="the deployed drill: your name, for the log")
    p.add_argument("--json", action="store_true", help="print the checklist as JSON")
    p.set_defaults(run=_drill)

    p = sub.add_parser(
        "simulate",
        help="run scenarios against the core in virtual time: files, or built-in ones "
        "against your config (--config)",
    )
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO.yaml")
    p.add_argument(
        "--config", metavar="FILE", default=None, help="run the built-in scenarios on this config"
    )
    p.add_argument("--service", default=None, help="with --config: which service (default: first)")
    p.add_argument("--summary", action="store_true", help="one line per scenario")
    p.add_argument("--json", action="store_true", help="the results as JSON")
    p.set_defaults(run=_simulate)

    p = sub.add_parser(
        "cost",
        help="the monthly AWS cost of a config, line by line, next to Route 53 health checks "
        "for the same checks",
    )
    p.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help="the config (default: --config, $ARBITER_CONFIG, ./arbiter.yaml, "
        "./arbiter.example.yaml)",
    )
    p.add_argument("--config", metavar="FILE", default=None, help="as FILE")
    p.add_argument(
        "--probe-ms",
        metavar="MS",
        type=_milliseconds,
        default=300.0,
        help="billed duration of one probe round (default 300: about the slowest check)",
    )
    p.add_argument(
        "--decide-ms",
        metavar="MS",
        type=_milliseconds,
        default=200.0,
        help="billed duration of one decide invocation (default 200)",
    )
    p.add_argument(
        "--tracing",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with (or without) X-Ray active tracing (default: the config's monitoring.tracing)",
    )
    p.add_argument(
        "--dashboard",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with (or without) the CloudWatch dashboard (default: monitoring.dashboard)",
    )
    p.add_argument(
        "--data-plane",
        action="store_true",
        help="with the data-plane failover mode (CloudWatch-alarm health checks)",
    )
    p.add_argument(
        "--route53-latency",
        action="store_true",
        help="count Route 53's latency-measurement option (Arbiter logs each check's latency)",
    )
    p.add_argument("--json", action="store_true", help="the figures as JSON")
    p.set_defaults(run=_cost)

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

    p = add_remote(sub, "status", "every service (or one): the active site, regions, conditions")
    p.add_argument("service", nargs="?", help="one service (default: all)")
    _service_alias(p)

    p = add_remote(sub, "history", "a service's switches, conditions and overrides, newest first")
    p.add_argument("service", nargs="?", help="may be left out when the config has one service")
    _service_alias(p)
    p.add_argument(
        "--limit", type=_page_size, default=50, help="events per page, 1..200 (default 50)"
    )
    p.add_argument("--before", default=None, metavar="CURSOR", help="the page after this cursor")
    p.add_argument("--kinds", choices=["switches", "conditions", "overrides", "all"], default="all")

    p = add_remote(sub, "switch", "switch to a site and pin the service there until resume")
    p.add_argument("words", nargs="+", metavar="[SERVICE] {primary,secondary}")
    _service_alias(p)
    p.add_argument("--reason", required=True)
    p.add_argument("--force", action="store_true", help="skip the health gate")

    for name, text in (
        ("pause", "no automatic switch until resume; probing and alerts go on"),
        ("resume", "end a pause, flap damping and a pin"),
        ("ack", "settle a FAILED switch as it was left"),
    ):
        p = add_remote(sub, name, text)
        p.add_argument("service", nargs="?", help="may be left out when the config has one")
        _service_alias(p)
        if name in ("pause", "ack"):
            p.add_argument("--reason", default=None)

    p = add_remote(
        sub,
        "notify-test",
        "send a test alert through every channel (and email) and report each result",
        run=_notify_test,
    )
    p.add_argument(
        "--here",
        action="store_true",
        help="send from this machine with local credentials (the config's channels), not "
        "from the deployed notify function",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    Parser.json_errors = "--json" in argv
    args = build_parser().parse_args(argv)
    try:
        code = args.run(args)
    except RemoteError as exc:
        code = fail(args, str(exc))
    except UsageError as exc:
        code = fail(args, str(exc))
    except KeyboardInterrupt:
        code = fail(args, "interrupted", 130)
    except BrokenPipeError:  # `arbiter history web | head`: the reader left, no traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 1
    except _aws_errors() as exc:  # an AWS call outside remote.py (plan's secrets, ...)
        from arbiter.local.remote import Call, explain

        code = fail(args, explain(exc, Call("an AWS call", "it", getattr(args, "region", None))))
    sys.exit(code)


def _aws_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


if __name__ == "__main__":
    main()
