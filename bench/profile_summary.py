"""Where a process's CPU goes, from py-spy's raw (collapsed) stacks: inclusive and self shares.

    py-spy record --pid PID --format raw -o stacks.txt --nonblocking
    python bench/profile_summary.py stacks.txt [--top 30]

Idle threads are not sampled (py-spy's default), so the shares are of the CPU the process used.
"Inclusive" counts a sample once for every function on its stack (what the function and its callees
cost); "self" only for the innermost frame. Frames are shown as `function (file)`, file shortened.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def _short(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "/wt-", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['func']} ({path})"


def summarize(lines: list[str]) -> tuple[int, Counter, Counter]:
    inclusive, own, total = Counter(), Counter(), 0
    for line in lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";")]
        frames = [f for f in frames if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    return total, inclusive, own


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("stacks", type=Path)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    total, inclusive, own = summarize(args.stacks.read_text().splitlines())
    print(f"{total} samples")
    print("inclusive (function and its callees):")
    for frame, count in inclusive.most_common(args.top):
        print(f"  {count / total:6.1%}  {frame}")
    print("self (innermost frame):")
    for frame, count in own.most_common(args.top):
        print(f"  {count / total:6.1%}  {frame}")


if __name__ == "__main__":
    main()
