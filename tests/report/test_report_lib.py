"""Report helpers: rule-graph parsing/layout/drawing and the per-dataset summary table."""

from __future__ import annotations

import pandas as pd
import pytest

from mammoflow.report import overview

from mammoflow.report import rulegraph

DOT = """digraph snakemake_dag {
    graph[bgcolor=white, margin=0];
    node[shape=box, style=rounded, fontname=sans,                 fontsize=10, penwidth=2];
    edge[penwidth=2, color=grey];
	0[label = "all", color = "0.00 0.6 0.85", style="rounded"];
	1[label = "tables_vindr_synth", color = "0.10 0.6 0.85", style="rounded"];
	2[label = "preprocess_vindr_synth_s000", color = "0.20 0.6 0.85", style="rounded"];
	3[label = "preprocess_vindr_synth_s001", color = "0.20 0.6 0.85", style="rounded"];
	4[label = "synthesize_vindr_synth", color = "0.30 0.6 0.85", style="rounded"];
	5[label = "heatmap_vindr_synth_s000", color = "0.40 0.6 0.85", style="rounded"];
	6[label = "train_pc", color = "0.50 0.6 0.85", style="rounded"];
	1 -> 0
	2 -> 1
	3 -> 1
	4 -> 2
	4 -> 3
	4 -> 1
	1 -> 6
	6 -> 5
	2 -> 5
	5 -> 0
}
"""


def test_parse_dot_merges_shard_rules():
    g = rulegraph.parse_dot(DOT)
    assert g.nodes == {"tables_vindr_synth": 1, "preprocess_vindr_synth": 2,
                       "synthesize_vindr_synth": 1, "heatmap_vindr_synth": 1, "train_pc": 1}
    assert ("preprocess_vindr_synth", "tables_vindr_synth") in g.edges
    assert ("synthesize_vindr_synth", "preprocess_vindr_synth") in g.edges
    assert len(g.edges) == 6  # the two preprocess shards' edges collapse; `all` is left out
    assert "all" in rulegraph.parse_dot(DOT, drop=()).nodes


def test_parse_dot_rejects_garbage():
    with pytest.raises(ValueError):
        rulegraph.parse_dot("Building DAG of jobs...\n")


def test_layers_respect_edges():
    g = rulegraph.parse_dot(DOT)
    lay = rulegraph.layers(g)
    level = {n: i for i, row in enumerate(lay) for n in row}
    assert sorted(level) == sorted(g.nodes)
    assert all(level[a] < level[b] for a, b in g.edges)
    assert lay[0] == ["synthesize_vindr_synth"] and lay[-1] == ["heatmap_vindr_synth"]


@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_draw_is_byte_reproducible(tmp_path, suffix):
    g = rulegraph.parse_dot(DOT)
    a, b = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    rulegraph.draw(g, a, title="t")
    rulegraph.draw(g, b, title="t")
    assert a.read_bytes() == b.read_bytes()
    if suffix == ".svg":
        text = a.read_text()
        assert "<svg" in text and "preprocess_vindr_synth  (x2 shards)" in text
    else:
        assert a.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dataset_summary_counts(tmp_path):
    pd.DataFrame({"image_id": ["a", "b", "c"], "study_id": ["s1", "s1", "s2"], "patient_id": ["p1", "p1", "p2"],
                  "split": ["training", "training", "test"], "label": [1, 0, 1]}).to_csv(tmp_path / "i.csv", index=False)
    pd.DataFrame({"finding_id": ["f1"], "image_id": ["a"]}).to_csv(tmp_path / "f.csv", index=False)
    pd.DataFrame({"image_id": ["x", "y"], "source_path": ["x.dcm", "y.dcm"], "stage": ["read", "read"],
                  "reason": ["bad", "bad"]}).to_csv(tmp_path / "r.csv", index=False)
    df = overview.summary_job(["ds"], [tmp_path / "i.csv"], [tmp_path / "f.csv"], [tmp_path / "r.csv"],
                              tmp_path / "out.csv")
    row = df.iloc[0].to_dict()
    assert row == {"dataset": "ds", "images": 3, "studies": 2, "patients": 2, "training_images": 2,
                   "test_images": 1, "positive_images": 2, "findings": 1, "rejected": 2}
    assert pd.read_csv(tmp_path / "out.csv").shape == (1, len(overview.SUMMARY_COLUMNS))
    with pytest.raises(ValueError):
        overview.summary_job(["ds", "other"], [tmp_path / "i.csv"], [], [], tmp_path / "x.csv")


class _Anything:
    """Stands in for snakemake.wildcards/params in captions: every attribute or key renders as 'x'."""

    def __getattr__(self, name):
        return "x"

    def __getitem__(self, key):
        return "x"


def test_report_texts_render_without_rst_errors():
    """The workflow description and every caption: Jinja with the demo config, then reStructuredText."""
    from pathlib import Path

    import yaml
    from docutils.core import publish_parts
    from jinja2 import Environment

    repo = Path(__file__).resolve().parents[2]
    config = yaml.safe_load((repo / "config" / "config.yaml").read_text())
    env = Environment(trim_blocks=True, lstrip_blocks=True)  # as Snakemake's report renders them

    class Snakemake:
        pass

    Snakemake.config = config
    Snakemake.wildcards = Snakemake.params = _Anything()
    texts = sorted((repo / "workflow" / "report").glob("*.rst"))
    assert any(p.name == "workflow.rst" for p in texts)
    for path in texts:
        rst = env.from_string(path.read_text()).render(snakemake=Snakemake, categories={}, files={})
        html = publish_parts(rst, writer="html", settings_overrides={"report_level": 2, "halt_level": 5})["html_body"]
        assert "System Message" not in html, f"{path.name}: reStructuredText problem:\n{html[:2000]}"


def test_canonical_dot_is_order_independent():
    lines = DOT.splitlines()
    shuffled = "\n".join(lines[:4] + list(reversed(lines[4:-1])) + lines[-1:])
    a, b = rulegraph.canonical_dot(DOT), rulegraph.canonical_dot(shuffled)
    assert a == b
    assert '[label = "preprocess_vindr_synth_s001"]' in a and '[label = "all"]' in a
    assert rulegraph.parse_dot(a).nodes == rulegraph.parse_dot(DOT).nodes  # re-parsable
