"""How much the audit changed: marks of each document before (a folder at a git revision) and after
(a folder of the working tree), documents matched by file name.

    python corpus/audit_agreement.py ee9bc40 corpus/staging/w1 corpus/brands

A mark is (type, surface, label): explicit, non-brand, implicit and opinion marks alike, an opinion's
label being its judgements. The marks of a document are aligned in order (difflib); every inserted,
deleted or replaced mark counts as changed. Agreement = 1 - changed / marks before.
"""
from __future__ import annotations

import difflib
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

MARK = re.compile(r"\[\[([^\]|]+)\|([^\]]+)\]\]|\{\{([^}|]+)\|([^}]+)\}\}|<<([^>|]+)\|([^>]+)>>")


def marks(text: str) -> list[tuple[str, str, str]]:
    found = []
    for m in MARK.finditer(text):
        if m.group(1) is not None:
            found.append(("explicit" if m.group(2) != "-" else "non_brand", m.group(1).lower(), m.group(2)))
        elif m.group(3) is not None:
            found.append(("implicit", m.group(3).lower(), m.group(4)))
        else:
            found.append(("opinion", m.group(5).lower(), m.group(6).replace(" ", "")))
    return found


def main(rev: str, before_folder: str, after_folder: str = "corpus/brands") -> None:
    listed = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, before_folder],
                            capture_output=True, text=True, check=True).stdout.split()
    before_paths = {Path(p).name: p for p in listed if p.endswith(".md")}
    totals: Counter = Counter()
    for path in sorted(Path(after_folder).glob("**/*.md")):
        if path.name not in before_paths:
            continue
        shown = subprocess.run(["git", "show", f"{rev}:{before_paths[path.name]}"], capture_output=True, text=True)
        before = marks(shown.stdout)
        after = marks(path.read_text(encoding="utf-8"))
        totals["documents"] += 1
        totals["before"] += len(before)
        totals["after"] += len(after)
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes():
            if op == "replace":
                totals["relabelled"] += min(i2 - i1, j2 - j1)
                totals["removed" if i2 - i1 > j2 - j1 else "added"] += abs((i2 - i1) - (j2 - j1))
            elif op == "delete":
                totals["removed"] += i2 - i1
            elif op == "insert":
                totals["added"] += j2 - j1
    changed = totals["relabelled"] + totals["removed"] + totals["added"]
    print(dict(totals))
    print(f"changed {changed} of {totals['before']} marks: {changed / max(totals['before'], 1):.1%}; "
          f"agreement {1 - changed / max(totals['before'], 1):.1%}")


if __name__ == "__main__":
    main(*sys.argv[1:])
