"""Write contracts/schemas/<type>.json for every v1 event type (run after changing contracts/).

Usage: python tools/export_schemas.py [--check] [--out DIR]
  --check  write nothing; exit 1 if any file is missing, stale or extra.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from contracts.schema import build_all_schemas, render_schema, schema_filename  # noqa: E402

DEFAULT_OUT = ROOT / "contracts" / "schemas"


def expected_files() -> dict[str, str]:
    """File name -> text, for every event type."""
    return {
        schema_filename(event_type): render_schema(schema)
        for event_type, schema in build_all_schemas().items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only check the files are fresh")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="schema directory")
    args = parser.parse_args(argv)
    out: Path = args.out
    expected = expected_files()
    present = {p.name for p in out.glob("*.json")} if out.is_dir() else set()
    stale = sorted(
        name
        for name, text in expected.items()
        if name not in present or (out / name).read_text(encoding="utf-8") != text
    )
    extra = sorted(present - set(expected))
    if args.check:
        for name in stale:
            print(f"stale or missing: {out / name}", file=sys.stderr)
        for name in extra:
            print(f"not a v1 event type: {out / name}", file=sys.stderr)
        if stale or extra:
            print("run: python tools/export_schemas.py", file=sys.stderr)
            return 1
        return 0
    out.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (out / name).write_text(expected[name], encoding="utf-8", newline="\n")
    for name in extra:
        (out / name).unlink()
    print(f"{len(expected)} schemas in {out}: {len(stale)} written, {len(extra)} removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
