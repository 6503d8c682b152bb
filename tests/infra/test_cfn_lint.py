"""cfn-lint on every synthesized template (offline). W3005 (redundant DependsOn, which CDK
emits) is the only finding tolerated."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from tests.infra.helpers import cfn_lint

pytestmark = pytest.mark.infra


@pytest.mark.parametrize("variant", ["example", "ten_seconds"])
def test_templates_pass_cfn_lint(
    variant: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The example (60 s: scheduled probes) and its 10 s twin (ticker, rounds queue)."""
    templates: dict[str, Template] = request.getfixturevalue(variant)
    paths, problems = cfn_lint(templates, tmp_path)
    assert problems is None, problems
    assert len(paths) == 4
