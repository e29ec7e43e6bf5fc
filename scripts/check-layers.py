#!/usr/bin/env python3
"""Holds engine/src to the layer map in docs/ARCHITECTURE.md.

The map's `layers` block lists the engine's top-level modules from the bottom up, each with
the modules it imports. This check reads every file's imports as written (`use` items and
`crate::`/`super::`/`self::` paths, and in a folder's mod.rs the child modules it names) and
fails when:
  - a file imports a top-level module its map entry does not list (an arrow the map does not
    draw), or the map lists one the code no longer imports (a stale map);
  - a map entry lists a module that is not in a lower layer (an arrow upward);
  - any files import each other, directly or round a cycle (tests excepted: a #[cfg(test)]
    module may reach anywhere);
  - a carrier's name (`Carrier::Twilio`, `Provider::Telnyx`, ...) appears outside `carriers/`,
    or outside the files that define those names;
  - library code returns `Result<_, String>`.
Usage: check-layers.py [REPO_ROOT]. Prints the problems, exits 1 if there are any.
"""
import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
SRC = os.path.join(ROOT, "engine", "src")
MAP = os.path.join(ROOT, "docs", "ARCHITECTURE.md")
# Where carrier names may appear: the adapters, and where the names are defined.
CARRIER_NAME_HOMES = ("carriers/", "domain/phone_number.rs", "secrets.rs")


def read_map():
    text = open(MAP, encoding="utf-8").read()
    m = re.search(r"```layers\n(.*?)```", text, re.S)
    if not m:
        sys.exit(f"{MAP}: no ```layers block")
    layers, imports = {}, {}
    for line in m.group(1).splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        level, rest = line.split(None, 1)
        name, _, deps = rest.partition(":")
        name = name.strip()
        layers[name] = int(level)
        imports[name] = {d.strip() for d in deps.split(",") if d.strip()}
    return layers, imports


def modules():
    mods = {}
    for root, _, files in os.walk(SRC):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(root, f), SRC)[:-3].split(os.sep)
            if rel[-1] == "mod":
                rel = rel[:-1]
            # main.rs and its cli/ are the binary, a client of the library: not on the map.
            if rel in (["lib"], ["main"]) or rel[0] == "cli":
                continue
            mods[tuple(rel)] = os.path.join(root, f)
    return mods


def strip_tests(text):
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def expand_use(body):
    body = re.sub(r"\s+", "", body)

    def rec(s):
        m = re.match(r"^(.*?)\{(.*)\}$", s)
        if not m:
            return [s]
        pre, inner = m.group(1), m.group(2)
        parts, depth, cur = [], 0, ""
        for ch in inner:
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
                continue
            depth += ch == "{"
            depth -= ch == "}"
            cur += ch
        parts.append(cur)
        return [p for part in parts if part for p in rec(pre + part)]

    return rec(body)


def result_generics(text):
    """The generic arguments of every `Result<...>` in `text`, top-level commas split."""
    for m in re.finditer(r"\bResult<", text):
        depth, i, args, cur = 1, m.end(), [], ""
        while i < len(text) and depth:
            ch = text[i]
            if ch == "<":
                depth += 1
            elif ch == ">" and text[i - 1] != "-":
                depth -= 1
                if depth == 0:
                    break
            if ch == "," and depth == 1:
                args.append(cur.strip())
                cur = ""
            else:
                cur += ch
            i += 1
        args.append(cur.strip())
        yield [re.sub(r"\s+", " ", a) for a in args]


def main():
    layers, listed = read_map()
    mods = modules()
    problems = []
    tops = {m[0] for m in mods}
    for t in sorted(tops - set(layers)):
        problems.append(f"engine/src/{t}: not on the map in docs/ARCHITECTURE.md")
    for t in sorted(set(layers) - tops):
        problems.append(f"docs/ARCHITECTURE.md: maps `{t}`, which engine/src does not have")

    def resolve(path):
        for k in range(len(path), 0, -1):
            if tuple(path[:k]) in mods:
                return tuple(path[:k])
        return None

    edges = {}
    code_of = {}
    for mod, f in mods.items():
        raw = open(f, encoding="utf-8").read()
        text = strip_comments(strip_tests(raw))
        code_of[mod] = text
        is_folder_index = f.endswith("mod.rs")
        children = set(re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", text, re.M)) if is_folder_index else set()
        refs = []
        for m in re.finditer(r"\buse\s+([^;]+);", text):
            refs += expand_use(m.group(1))
        refs += re.findall(r"(?<![\w:])((?:crate|super|self)(?:::\w+)+)", text)
        if children:
            refs += re.findall(r"(?<![\w:])((?:%s)(?:::\w+)+)" % "|".join(children), text)
        for r in refs:
            parts = [p for p in r.split(" as ")[0].split("::") if p]
            if not parts:
                continue
            if parts[0] == "crate":
                target = parts[1:]
            elif parts[0] == "super":
                base = list(mod)[:-1]
                rest = parts[1:]
                while rest and rest[0] == "super":
                    base, rest = base[:-1], rest[1:]
                target = base + rest
            elif parts[0] == "self":
                target = list(mod) + parts[1:] if is_folder_index else list(mod)[:-1] + parts[1:]
            elif parts[0] in children:
                target = list(mod) + parts
            else:
                continue
            t = resolve(target)
            if t is not None and t != mod:
                edges.setdefault(mod, set()).add(t)

    # Arrows between top-level modules, against the map.
    used = {}
    for a, bs in edges.items():
        for b in bs:
            if a[0] == b[0]:
                continue
            used.setdefault(a[0], set()).add(b[0])
            if b[0] not in listed.get(a[0], set()):
                problems.append(
                    f"engine/src/{'/'.join(a)}: imports `{b[0]}`, which the map does not list for `{a[0]}`"
                )
    for name, deps in sorted(listed.items()):
        for d in sorted(deps):
            if d not in layers:
                problems.append(f"docs/ARCHITECTURE.md: `{name}` lists unknown module `{d}`")
            elif layers[d] >= layers.get(name, 0):
                problems.append(
                    f"docs/ARCHITECTURE.md: `{name}` (layer {layers[name]}) lists `{d}` (layer {layers[d]}): an arrow upward or sideways"
                )
            elif d not in used.get(name, set()) and name in tops:
                problems.append(f"docs/ARCHITECTURE.md: `{name}` lists `{d}`, but no file of it imports `{d}`")

    # No cycle between files (Tarjan's strongly connected components).
    sys.setrecursionlimit(10000)
    index, low, stack, on, counter = {}, {}, [], set(), [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                problems.append("import cycle between files: " + " -> ".join("::".join(c) for c in sorted(comp)))

    for v in sorted(mods):
        if v not in index:
            visit(v)

    # Carrier names stay in their adapters; no stringly-typed errors.
    for mod, text in code_of.items():
        rel = os.path.relpath(mods[mod], SRC)
        if not rel.startswith(CARRIER_NAME_HOMES):
            for m in re.finditer(r"\b(?:Carrier|Provider)::(Twilio|Telnyx|Livekit)\b", text):
                line = text[: m.start()].count("\n") + 1
                problems.append(f"engine/src/{rel}: names the carrier {m.group(1)} outside carriers/ (near line {line})")
        for args in result_generics(text):
            if len(args) == 2 and args[1] == "String":
                problems.append(f"engine/src/{rel}: `Result<{', '.join(args)}>`: use a small error type, not a String")

    if problems:
        print("\n".join(problems))
        print(f"check-layers: {len(problems)} problem(s)")
        sys.exit(1)
    print(f"check-layers: {len(mods)} files, {sum(len(v) for v in edges.values())} imports, every one downward; no cycle")


if __name__ == "__main__":
    main()
