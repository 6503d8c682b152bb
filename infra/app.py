"""CDK entry point: ``cdk synth -c config=path/to/arbiter.yaml`` (default: the example).

The config is validated here, at synth time, with the same model the functions use; an
invalid file stops the synth with one line per problem.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT / "functions", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import aws_cdk as cdk  # noqa: E402

from arbiter.core.config import Config, load_config  # noqa: E402
from arbiter.core.errors import ConfigError  # noqa: E402
from infra import dataplane, nag  # noqa: E402
from infra.asset import AssetBuildError, build_asset  # noqa: E402
from infra.stacks import ControlStack, ProbeStack  # noqa: E402

DEFAULT_CONFIG = ROOT / "arbiter.example.yaml"


def build_app(
    config_path: str | Path | None = None,
    *,
    asset_dir: Path | None = None,
    **app_props: Any,
) -> cdk.App:
    """The whole app for one config file (``config_path``, else context ``config``)."""
    app = cdk.App(**app_props)
    path = config_path or app.node.try_get_context("config") or DEFAULT_CONFIG
    config = load_config(str(path))
    for warning in config.warnings():
        print(f"warning: {warning}", file=sys.stderr)
    asset = build_asset(config, root=ROOT, dest=asset_dir)
    add_stacks(app, config, asset)
    nag.check(app)
    return app


def add_stacks(app: cdk.App, config: Config, asset: Path) -> None:
    account = os.environ.get("CDK_DEFAULT_ACCOUNT")
    control = ControlStack(
        app,
        f"{config.app}-control",
        config=config,
        asset=asset,
        env=cdk.Environment(account=account, region=config.home_region),
        description=f"Arbiter control plane: table, decide/act/override, alerts ({config.app})",
    )
    for region in config.control.standby_regions:
        standby = ControlStack(
            app,
            f"{config.app}-control-{region}",
            config=config,
            asset=asset,
            standby=True,
            env=cdk.Environment(account=account, region=region),
            description=f"Arbiter standby control region {region} ({config.app})",
        )
        standby.add_stack_dependency(control)  # the replicas come from the home stack
    for region in config.probe_regions:
        probe = ProbeStack(
            app,
            f"{config.app}-probe-{region}",
            config=config,
            asset=asset,
            env=cdk.Environment(account=account, region=region),
            description=f"Arbiter probe in {region} ({config.app})",
        )
        probe.add_stack_dependency(control)
    dataplane.add_alarm_stacks(app, config, control, account)


def main() -> int:
    try:
        app = build_app()
    except ConfigError as exc:
        print(f"error: {exc.source} is not a valid Arbiter config:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    except AssetBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
