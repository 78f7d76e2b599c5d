#!/usr/bin/env python3
"""Derives the golden recipes from the seed, independently of tvd's templates.

For each of the seed's Examples 1-4 it takes the template the example names (the SM121 block for
Example 1, the Pattern B block for Examples 2-3, the CPU block for Example 4), applies the
example's own substitution list by plain find-and-replace, as the seed's workflow says, and writes
exampleN.json (the substitutions) and exampleN.nix (the expected recipe).

Where the seed's list is short of a value its template needs, ADDED supplies it and the JSON
records it under "added". Two repairs of the seed are applied on purpose and listed in the README:
the CPU template's `[ "{PLATFORMS}" ]` becomes `[ {PLATFORMS} ]` (Example 4's value is already a
list of quoted strings), and nothing else.

Usage: from_seed.py SEED.md OUTDIR    (exit 1 when a placeholder is left unfilled)
"""
import json
import re
import sys

ADDED = {
    # The seed's SM121 template hard-codes 121 and 12.1; tvd's Pattern A template names them.
    1: {"{GPU_ARCH_NUM}": "121", "{GPU_ARCH_DECIMAL}": "12.1"},
    # The Pattern B template's comment says sm_{GPU_ARCH_NUM}; Example 3 does not list it.
    3: {"{GPU_ARCH_NUM}": "120"},
}


def blocks(seed):
    """The nix code blocks under the three template headings."""
    found = {}
    for key, heading in (("A", "### Template for SM121 (Pattern Type A)"),
                         ("B", "### Template for SM120 and Older (Pattern Type B)"),
                         ("cpu", "## CPU Build Template")):
        start = seed.index(heading)
        m = re.compile(r"```nix\n(.*?)```", re.S).search(seed, start)
        found[key] = m.group(1)
    return found


def examples(seed):
    out = {}
    for m in re.finditer(r"### Example (\d):.*?\*\*Substitutions:\*\*\n(.*?)\n\n", seed, re.S):
        subs = {}
        for line in m.group(2).splitlines():
            sm = re.match(r"- `(\{[A-Z_]+\}(?:_\{[A-Z_]+\})?)` → `(.*)`(?: \(.*\))?$", line)
            if not sm:
                raise SystemExit(f"example {m.group(1)}: cannot read line: {line}")
            subs[sm.group(1)] = sm.group(2)
        out[int(m.group(1))] = subs
    return out


def main():
    seed = open(sys.argv[1], encoding="utf-8").read()
    outdir = sys.argv[2]
    tmpl = blocks(seed)
    tmpl["cpu"] = tmpl["cpu"].replace('platforms = [ "{PLATFORMS}" ];', "platforms = [ {PLATFORMS} ];")
    which = {1: "A", 2: "B", 3: "B", 4: "cpu"}
    for n, subs in sorted(examples(seed).items()):
        added = ADDED.get(n, {})
        text = tmpl[which[n]]
        # Longest keys first, so {CUDA_MAJOR}_{CUDA_MINOR} goes before any shorter key.
        for key, value in sorted({**subs, **added}.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(key, value)
        left = re.findall(r"\{[A-Z][A-Z0-9_]*\}", text)
        if left:
            raise SystemExit(f"example {n}: unfilled {sorted(set(left))}")
        with open(f"{outdir}/example{n}.nix", "w", encoding="utf-8") as f:
            f.write(text)
        with open(f"{outdir}/example{n}.json", "w", encoding="utf-8") as f:
            json.dump({"template": which[n], "substitutions": subs, "added": added}, f,
                      indent=2, ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    main()
