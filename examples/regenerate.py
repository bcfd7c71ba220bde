"""Regenerate the shipped example reports: `make examples`.

Runs the real CLI over every example document with the example catalogue and writes one report per
document under examples/reports/, so a change in behaviour shows up as a diff in review.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOCUMENTS = sorted(p for p in HERE.iterdir() if p.suffix in {".txt", ".md", ".html"} and p.name != "README.md")
# The annual report is the company's own: its "we" and "our" are Aurora Air's, which only `--author`
# can say (outside a speaker turn, first person names no brand: docs/brand-annotation.md).
OPTIONS = {"annual-report-excerpt.md": ["--author", "aurora-air"]}


def main() -> int:
    out = HERE / "reports"
    out.mkdir(exist_ok=True)
    brandscan = Path(sys.executable).with_name("brandscan")
    for document in DOCUMENTS:
        target = out / f"{document.name}.json"
        done = subprocess.run(
            [str(brandscan), "analyze", str(document.relative_to(HERE.parent)), "-c", "examples/brands.yaml",
             "--format", "json", "--no-cache", "--include-text", *OPTIONS.get(document.name, [])],
            cwd=HERE.parent, capture_output=True,
        )
        if done.returncode != 0:
            sys.stderr.write(done.stderr.decode())
            return done.returncode
        target.write_bytes(done.stdout)
        print(f"wrote {target.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
