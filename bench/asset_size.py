"""The Lambda asset's size, zipped as CDK zips it, and what it is made of.

Run as ``python bench/asset_size.py`` (``make bench``). Builds ``build/asset`` for the example
config (or ``--config``) as ``cdk synth`` does, zips it like cdk-assets (every file, deflate),
prints the total and the largest top-level entries, and exits non-zero above 10 MB. The
boto3 stack is not in it: the Lambda runtime provides it (``infra/asset.py``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "functions", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from arbiter.core.config import load_config  # noqa: E402
from infra.asset import MAX_ZIPPED_BYTES, RUNTIME_PROVIDED, build_asset, zipped_size  # noqa: E402

MB = 1_000_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "arbiter.example.yaml"))
    parser.add_argument("--top", type=int, default=10, help="how many entries to list")
    args = parser.parse_args(argv)

    asset = build_asset(load_config(args.config), root=ROOT)
    size, by_entry = zipped_size(asset)
    unzipped = sum(p.stat().st_size for p in asset.rglob("*") if p.is_file())
    print(f"asset:            {asset.relative_to(ROOT)}")
    print(f"zipped (deflate): {size / MB:.2f} MB (limit {MAX_ZIPPED_BYTES / MB:.0f} MB)")
    print(f"unzipped:         {unzipped / MB:.2f} MB")
    print(f"not bundled:      {', '.join(RUNTIME_PROVIDED)} (the Lambda runtime's)")
    print("largest entries (zipped):")
    for name, bytes_ in sorted(by_entry.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"  {bytes_ / MB:6.2f} MB  {100 * bytes_ / size:4.1f}%  {name}")
    if size > MAX_ZIPPED_BYTES:
        print(f"FAIL: the asset is {size / MB:.2f} MB zipped", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
