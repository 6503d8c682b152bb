"""Helpers of the infra tests: build the app from a config, read its templates."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aws_cdk as cdk  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

from infra.app import build_app  # noqa: E402

EXAMPLE = ROOT / "arbiter.example.yaml"
NO_STAGING = {"aws:cdk:disable-asset-staging": True}
"""Tests read templates only: do not copy the 50 MB asset into every cloud assembly."""


def templates(app: cdk.App) -> dict[str, Template]:
    return {
        stack.stack_name: Template.from_stack(stack)
        for stack in app.node.children
        if isinstance(stack, cdk.Stack)
    }


def example_data(switch_extras: bool = False) -> dict[str, Any]:
    """The example config; without ``switch_extras``, its fences, hooks and VoIP routes are
    left out (the DNS-only shape most infra tests vary; tests of those extras add their own)."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    if not switch_extras:
        data.pop("voip_providers", None)
        for service in data["services"]:
            service.pop("voip", None)
            service.pop("fence_policy", None)
            for site in ("primary", "secondary"):
                service[site].pop("fence", None)
                service[site].pop("hooks", None)
    return data


def build_templates(config_path: Path, asset_dir: Path | None = None) -> dict[str, Template]:
    return templates(build_app(config_path, asset_dir=asset_dir, context=NO_STAGING))


def render(value: Any) -> Any:
    """Resolve ARNs to plain strings: pseudo parameters to fixed values (partition ``aws``),
    ``Ref`` to ``${Id}`` and ``Fn::GetAtt`` to ``${Id.Attr}``."""
    pseudo = {"AWS::Partition": "aws", "AWS::AccountId": "123456789012", "AWS::Region": "REGION"}
    if isinstance(value, list):
        return [render(v) for v in value]
    if isinstance(value, dict):
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(str(render(p)) for p in parts)
        if set(value) == {"Ref"}:
            return pseudo.get(value["Ref"], f"${{{value['Ref']}}}")
        if set(value) == {"Fn::GetAtt"}:
            return "${" + ".".join(value["Fn::GetAtt"]) + "}"
        return {k: render(v) for k, v in value.items()}
    return value


def policy_statements(template: Template, role_prefix: str) -> list[dict[str, Any]]:
    """The statements of the default policy of the function whose construct id is given."""
    found = [
        resource["Properties"]["PolicyDocument"]["Statement"]
        for logical_id, resource in template.find_resources("AWS::IAM::Policy").items()
        if logical_id.startswith(f"{role_prefix}ServiceRoleDefaultPolicy")
    ]
    assert len(found) == 1, f"expected one policy for {role_prefix}, found {len(found)}"
    return [render(statement) for statement in found[0]]


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def resources(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def logical_id(template: Template, resource_type: str, prefix: str) -> str:
    ids = [i for i in template.find_resources(resource_type) if i.startswith(prefix)]
    assert len(ids) == 1, f"{resource_type} {prefix}*: {ids}"
    return ids[0]


def cfn_lint(templates: dict[str, Template], tmp_path: Path) -> tuple[list[str], str | None]:
    """Write the templates to ``tmp_path`` and run cfn-lint on them (W3005, CDK's own
    DependsOn warning, ignored). Returns the paths linted and the problems (None: clean)."""
    import json
    import subprocess

    paths = []
    for name, template in templates.items():
        path = tmp_path / f"{name}.template.json"
        path.write_text(json.dumps(template.to_json()), encoding="utf-8")
        paths.append(str(path))
    done = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), "--ignore-checks", "W3005", "--", *paths],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return paths, None if done.returncode == 0 else done.stdout + done.stderr
