"""A marked section of BENCHMARKS.md, replaced in place (or appended), so
each benchmark script writes its own part and keeps the others'."""

import os


def write_section(path, text, start_mark, end_mark):
    section = f"{start_mark}\n{text}\n{end_mark}\n"
    old = open(path).read() if os.path.exists(path) else ""
    s, e = old.find(start_mark), old.find(end_mark)
    if s >= 0 and e > s:
        new = old[:s] + section + old[e + len(end_mark):].lstrip("\n")
    else:
        new = old + ("\n" if old and not old.endswith("\n") else "") + ("\n" if old else "") + section
    with open(path, "w") as f:
        f.write(new)
