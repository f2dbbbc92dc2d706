"""The performance ladder on synthetic per-op curves, and the edge-of-competence filter."""

from __future__ import annotations

import json

import pytest
import yaml

from interplay.cli import main
from interplay.errors import UserError
from interplay.evaluate.ladder import (
    LadderThresholds,
    edge_of_competence,
    ladder_yaml,
    per_op_from_pass_table,
    propose_ladder,
)
from interplay.evaluate.ranges import parse_op_ranges


def paper_like() -> dict[int, tuple[float, float]]:
    """pass@1 falls from 0.95 at op 2; pass@128 stays ~1 to op 10, fades over 11-14, is 0 after."""
    curve = {}
    for op in range(2, 21):
        p1 = max(0.0, 0.95 - 0.09 * (op - 2))
        pk = 1.0 if op <= 10 else {11: 0.8, 12: 0.55, 13: 0.3, 14: 0.12}.get(op, 0.0)
        curve[op] = (p1, pk)
    return curve


def test_paper_like_curve_gives_the_paper_ranges():
    ladder = propose_ladder(paper_like(), k=128)
    assert ladder.op_ranges == {"ID": (2, 10), "OOD-edge": (11, 14), "OOD-hard": (15, 20)}
    assert ladder.notes == []
    assert [ladder.per_op[op]["range"] for op in (2, 10, 11, 14, 15, 20)] == [
        "ID", "ID", "OOD-edge", "OOD-edge", "OOD-hard", "OOD-hard"]


def test_thresholds_move_the_boundaries():
    ladder = propose_ladder(paper_like(), k=128, thresholds=LadderThresholds(id_min_pass_k=0.75, hard_max_pass_k=0.2))
    assert ladder.op_ranges == {"ID": (2, 11), "OOD-edge": (12, 13), "OOD-hard": (14, 20)}


def test_non_monotone_curve_keeps_ranges_contiguous_and_says_why():
    curve = paper_like()
    curve[12] = (0.0, 0.02)  # a dip to zero inside the edge
    curve[13] = (0.6, 0.95)  # and a bump back up, with a high pass@1
    ladder = propose_ladder(curve, k=64)
    assert ladder.op_ranges == {"ID": (2, 10), "OOD-edge": (11, 14), "OOD-hard": (15, 20)}
    text = " | ".join(ladder.notes)
    assert "op 12" in text and "op 13" in text and "pass@1 0.600" in text


def test_missing_ranges_are_reported():
    strong = {op: (0.9, 1.0) for op in range(2, 8)}
    ladder = propose_ladder(strong, k=16)
    assert ladder.op_ranges == {"ID": (2, 7)}
    assert any("no OOD-hard" in n for n in ladder.notes) and any("no OOD-edge" in n for n in ladder.notes)
    weak = {op: (0.0, 0.0) for op in range(2, 8)}
    ladder = propose_ladder(weak, k=16)
    assert ladder.op_ranges == {"OOD-hard": (2, 7)}
    assert any("no ID" in n for n in ladder.notes)
    # Evaluated at every other op: the edge covers the unevaluated op between the last ID op and the
    # first OOD-hard op, and a note says no evaluated op backs it.
    gappy = {2: (0.9, 1.0), 4: (0.8, 0.95), 6: (0.0, 0.0), 8: (0.0, 0.0)}
    ladder = propose_ladder(gappy, k=16)
    assert ladder.op_ranges == {"ID": (2, 4), "OOD-edge": (5, 5), "OOD-hard": (6, 8)}
    assert any("holds no evaluated op" in n for n in ladder.notes)


def test_bad_thresholds_and_empty_input():
    with pytest.raises(UserError, match="hard_max_pass_k"):
        propose_ladder(paper_like(), k=8, thresholds=LadderThresholds(id_min_pass_k=0.1, hard_max_pass_k=0.2))
    with pytest.raises(UserError, match="id_min_pass_k"):
        LadderThresholds(id_min_pass_k=1.5).validate()
    with pytest.raises(UserError, match="no per-op"):
        propose_ladder({}, k=8)


def test_yaml_round_trips_into_eval_op_ranges(tmp_path):
    ladder = propose_ladder(paper_like(), k=128)
    path = tmp_path / "ladder.yaml"
    path.write_text(ladder_yaml(ladder, k=128, metric="outcome", source="test", thresholds=LadderThresholds()))
    doc = yaml.safe_load(path.read_text())
    assert doc["op_ranges"] == {"ID": [2, 10], "OOD-edge": [11, 14], "OOD-hard": [15, 20]}
    assert doc["per_op"][12]["range"] == "OOD-edge"
    assert parse_op_ranges(str(path)) == {"ID": (2, 10), "OOD-edge": (11, 14), "OOD-hard": (15, 20)}


def test_per_op_from_pass_table():
    table = [
        {"group": "op", "key": "3", "metric": "outcome", "k": 1, "pass_at_k": 0.5},
        {"group": "op", "key": "3", "metric": "outcome", "k": 8, "pass_at_k": 0.9},
        {"group": "op", "key": "3", "metric": "process", "k": 1, "pass_at_k": 0.25},
        {"group": "op", "key": "3", "metric": "process", "k": 8, "pass_at_k": 0.7},
        {"group": "overall", "key": "all", "metric": "outcome", "k": 8, "pass_at_k": 0.9},
    ]
    assert per_op_from_pass_table(table, 8) == {3: (0.5, 0.9)}
    assert per_op_from_pass_table(table, 8, "process") == {3: (0.25, 0.7)}
    with pytest.raises(UserError, match="pass@4"):
        per_op_from_pass_table(table, 4)


def test_edge_of_competence_filter():
    rows = [
        {"id": "never", "n": 16, "c_outcome": 0, "c_process": 0},
        {"id": "once", "n": 16, "c_outcome": 1, "c_process": 0},  # pass@1 1/16, pass@16 = 1
        {"id": "quarter", "n": 16, "c_outcome": 4, "c_process": 4},  # pass@1 0.25
        {"id": "often", "n": 16, "c_outcome": 8, "c_process": 1},  # pass@1 0.5: not failing at pass@1
    ]
    assert [r["id"] for r in edge_of_competence(rows, 16)] == ["once", "quarter"]
    assert [r["id"] for r in edge_of_competence(rows, 16, metric="process")] == ["quarter", "often"]
    # At k=4 one success in 16 gives pass@4 = 0.25 < 0.5: not "solved within k".
    kept = edge_of_competence(rows, 4)
    assert [r["id"] for r in kept] == ["quarter"]
    assert kept[0]["pass_at_1"] == 0.25 and kept[0]["pass_at_k"] == pytest.approx(1 - (12 * 11 * 10 * 9) / (16 * 15 * 14 * 13))
    with pytest.raises(UserError, match="exceeds"):
        edge_of_competence(rows, 32)


def test_ladder_cli_on_an_evaluation_folder(tmp_path, capsys):
    ks = [1, 8]
    table = []
    for op, (p1, pk) in paper_like().items():
        for metric in ("outcome", "process"):
            table += [{"group": "op", "key": str(op), "metric": metric, "k": 1, "pass_at_k": p1, "problems": 2},
                      {"group": "op", "key": str(op), "metric": metric, "k": 8, "pass_at_k": pk, "problems": 2}]
    (tmp_path / "results.json").write_text(json.dumps({"ks": ks, "tables": {"pass_at_k": table}}))
    (tmp_path / "per_problem.csv").write_text(
        "id,op,context,mode,n,c_outcome,c_process\na,11,zoo,forward,8,1,0\nb,2,zoo,forward,8,8,8\n")
    assert main(["ladder", "--eval", str(tmp_path), "--edge-out", str(tmp_path / "edge.jsonl"),
                 "--edge-min-passk-problem", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "ID 2-10, OOD-edge 11-14, OOD-hard 15-20" in out
    assert yaml.safe_load((tmp_path / "ladder.yaml").read_text())["k"] == 8
    edge = [json.loads(line) for line in (tmp_path / "edge.jsonl").read_text().splitlines()]
    assert [e["id"] for e in edge] == ["a"] and edge[0]["pass_at_k"] == 1.0
    assert main(["ladder", "--eval", str(tmp_path / "missing")]) == 2
    assert "results.json" in capsys.readouterr().err
