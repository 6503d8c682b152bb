"""cfn-lint on every synthesized template (offline). W3005 (redundant DependsOn, which CDK
emits) is the only finding tolerated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk.assertions import Template

pytestmark = pytest.mark.infra


@pytest.mark.parametrize("variant", ["example", "ten_seconds"])
def test_templates_pass_cfn_lint(
    variant: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The example (60 s: scheduled probes) and its 10 s twin (ticker, rounds queue)."""
    templates: dict[str, Template] = request.getfixturevalue(variant)
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
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(paths) == 4
