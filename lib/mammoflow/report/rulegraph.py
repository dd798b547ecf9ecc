"""The workflow's rule graph as a figure: Snakemake's dot output, shard rules merged, drawn with matplotlib."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

NODE_RE = re.compile(r'^\s*(\d+)\s*\[\s*label\s*=\s*"([^"]+)"')
EDGE_RE = re.compile(r"^\s*(\d+)\s*->\s*(\d+)")
SHARD_RE = re.compile(r"_s\d+$")


@dataclass
class RuleGraph:
    """Nodes (rule label -> number of merged rules) and edges (producer, consumer)."""

    nodes: dict[str, int] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)


def _raw(text: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Node id -> rule label and the edges (by id) of dot text, whatever the line order."""
    labels: dict[str, str] = {}
    edges: list[tuple[str, str]] = []
    for line in text.splitlines():
        m = NODE_RE.match(line)
        if m:
            labels[m.group(1)] = m.group(2)
            continue
        m = EDGE_RE.match(line)
        if m:
            edges.append((m.group(1), m.group(2)))
    if not labels:
        raise ValueError("no rules found in the rule graph (is this `snakemake --rulegraph dot` output?)")
    return labels, [(a, b) for a, b in edges if a in labels and b in labels]


def parse_dot(text: str, drop: tuple[str, ...] = ("all",)) -> RuleGraph:
    """Rule graph from `snakemake --rulegraph dot` output; per-shard rules (`<name>_sNNN`) become one node.

    Rules named in drop (the target-only rule `all`, which every final output feeds) are left out.
    """
    labels, edges = _raw(text)
    merged = {i: SHARD_RE.sub("", lab) for i, lab in labels.items()}
    g = RuleGraph()
    for i in sorted(labels, key=int):
        if merged[i] not in drop:
            g.nodes[merged[i]] = g.nodes.get(merged[i], 0) + 1
    for a, b in edges:
        if merged[a] in g.nodes and merged[b] in g.nodes and merged[a] != merged[b]:
            g.edges.add((merged[a], merged[b]))
    if not g.nodes:
        raise ValueError("only dropped rules in the rule graph")
    return g


def canonical_dot(text: str) -> str:
    """The rules and edges of `snakemake --rulegraph dot` output as sorted, style-free dot (byte-stable)."""
    labels, edges = _raw(text)
    names = sorted(set(labels.values()))
    num = {n: k for k, n in enumerate(names)}
    pairs = sorted({(labels[a], labels[b]) for a, b in edges})
    lines = ["digraph rulegraph {", "    node [shape=box, style=rounded];"]
    lines += [f'    {num[n]} [label = "{n}"];' for n in names]
    lines += [f"    {num[a]} -> {num[b]}" for a, b in pairs]
    return "\n".join(lines + ["}"]) + "\n"


def _levels(g: RuleGraph) -> dict[str, int]:
    """Layer of every rule: the longest path from a rule without inputs from other rules."""
    preds: dict[str, set[str]] = defaultdict(set)
    for a, b in g.edges:
        preds[b].add(a)
    level: dict[str, int] = {}
    for n in sorted(g.nodes):  # DAG: repeat relaxation until stable (at most |nodes| rounds)
        level[n] = 0
    for _ in range(len(g.nodes)):
        changed = False
        for a, b in sorted(g.edges):
            if level[b] < level[a] + 1:
                level[b] = level[a] + 1
                changed = True
        if not changed:
            break
    return level


def layout(g: RuleGraph) -> tuple[list[list[str]], dict[tuple[str, str], list[str]]]:
    """Layers of rules plus dummy points (for edges spanning layers), ordered to reduce crossings.

    Returns the layers (rule names and dummy ids "~a~b~k") and, per edge, the dummy ids it passes through.
    """
    level = _levels(g)
    rows: list[list[str]] = [[] for _ in range(max(level.values()) + 1)]
    for n in sorted(g.nodes):
        rows[level[n]].append(n)
    preds: dict[str, list[str]] = defaultdict(list)
    succs: dict[str, list[str]] = defaultdict(list)
    chains: dict[tuple[str, str], list[str]] = {}
    for a, b in sorted(g.edges):
        chain = [a]
        for k in range(level[a] + 1, level[b]):
            d = f"~{a}~{b}~{k}"
            rows[k].append(d)
            chain.append(d)
        chain.append(b)
        for u, v in zip(chain, chain[1:]):
            preds[v].append(u)
            succs[u].append(v)
        chains[(a, b)] = chain[1:-1]
    for _ in range(6):  # alternate downward and upward barycentre sweeps
        for i in range(1, len(rows)):
            pos = {n: k for k, n in enumerate(rows[i - 1])}
            rows[i].sort(key=lambda n: (_mean([pos[p] for p in preds[n] if p in pos], len(pos)), n))
        for i in range(len(rows) - 2, -1, -1):
            pos = {n: k for k, n in enumerate(rows[i + 1])}
            rows[i].sort(key=lambda n: (_mean([pos[q] for q in succs[n] if q in pos], len(pos)), n))
    return rows, chains


def layers(g: RuleGraph) -> list[list[str]]:
    """Rules by layer (top: rules without inputs from other rules), in drawing order."""
    rows, _ = layout(g)
    return [[n for n in row if not n.startswith("~")] for row in rows]


def _mean(xs: list[int], default: float) -> float:
    return sum(xs) / len(xs) if xs else default


def _label(g: RuleGraph, n: str) -> str:
    return n if g.nodes[n] == 1 else f"{n}  (x{g.nodes[n]} shards)"


def draw(g: RuleGraph, path: str | Path, title: str = "") -> None:
    """Draw the layered rule graph (top: first rules) to an SVG or PNG file, byte-reproducibly."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    rows, chains = layout(g)
    char_w, box_h, gap_x, gap_y, dummy_w, margin = 0.062, 0.30, 0.25, 0.75, 0.12, 0.3
    width = {n: (dummy_w if n.startswith("~") else len(_label(g, n)) * char_w + 0.3) for row in rows for n in row}
    row_w = [sum(width[n] for n in row) + gap_x * (len(row) - 1) for row in rows]
    total_w = max(row_w)
    xy: dict[str, tuple[float, float]] = {}
    for i, row in enumerate(rows):
        x = (total_w - row_w[i]) / 2
        for n in row:
            xy[n] = (x + width[n] / 2, -i * (box_h + gap_y))
            x += width[n] + gap_x
    title_h = 0.35 if title else 0.0
    fig_w = total_w + 2 * margin
    fig_h = (len(rows) - 1) * (box_h + gap_y) + box_h + 2 * margin + title_h
    with plt.rc_context({"svg.hashsalt": "mammoflow", "svg.fonttype": "none", "font.size": 7}):
        fig = plt.figure(figsize=(fig_w, fig_h))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(-margin, total_w + margin)
        ax.set_ylim(-(len(rows) - 1) * (box_h + gap_y) - box_h / 2 - margin, box_h / 2 + margin + title_h)
        ax.axis("off")
        for (a, b), dummies in sorted(chains.items()):
            pts = [(xy[a][0], xy[a][1] - box_h / 2)] + [xy[d] for d in dummies] + [(xy[b][0], xy[b][1] + box_h / 2)]
            xs, ys = zip(*pts)
            ax.plot(xs[:-1], ys[:-1], color="0.6", lw=0.8, solid_capstyle="round")
            ax.annotate("", xy=pts[-1], xytext=pts[-2],
                        arrowprops=dict(arrowstyle="-|>", color="0.6", lw=0.8, shrinkA=0, shrinkB=0))
        for n, (x, y) in sorted(xy.items()):
            if n.startswith("~"):
                continue
            w = width[n]
            ax.add_patch(FancyBboxPatch((x - w / 2, y - box_h / 2), w, box_h, boxstyle="round,pad=0,rounding_size=0.06",
                                        fc="#e8f0fa", ec="#3b6ea8", lw=0.9, zorder=3))
            ax.text(x, y, _label(g, n), ha="center", va="center", zorder=4)
        if title:
            ax.text(total_w / 2, box_h / 2 + margin / 2 + title_h / 2, title, ha="center", va="center", fontsize=8)
        meta = {"Date": None} if str(path).endswith(".svg") else {"Software": None}
        fig.savefig(path, metadata=meta, dpi=150)
        plt.close(fig)


def snakemake_rulegraph(snakefile: str | Path, workdir: str | Path, configfile: str | Path) -> str:
    """`snakemake --rulegraph dot` of a workflow with the given config (a separate, lock-free process)."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", str(workdir),
           "--configfile", str(configfile), "--rulegraph", "dot", "--workflow-profile", "none",
           "--nolock", "--cores", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake --rulegraph failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    start = proc.stdout.find("digraph")
    if start < 0:
        raise RuntimeError(f"no dot graph in snakemake output:\n{proc.stdout[-2000:]}")
    return proc.stdout[start:]


def rulegraph_job(snakefile: str, workdir: str, config: dict, dot_out: str, figure_out: str) -> None:
    """Write the rule graph of the running workflow (same config) as dot text and as a figure."""
    import json
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        json.dump(config, fh, sort_keys=True, default=str)  # JSON is YAML
        cfg = fh.name
    try:
        dot = snakemake_rulegraph(snakefile, workdir, cfg)
    finally:
        Path(cfg).unlink(missing_ok=True)
    Path(dot_out).write_text(canonical_dot(dot))
    g = parse_dot(dot)
    draw(g, figure_out, title=f"mammoflow rule graph ({len(g.nodes)} rules; per-shard rules merged)")
