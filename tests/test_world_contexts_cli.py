"""Contexts as data, and the `interplay sample` command (which must never import torch)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from interplay.errors import UserError
from interplay.world import generate, get_context
from interplay.world.contexts import load_context_file


def test_reference_names_are_aliases():
    assert get_context("crazy_zootopia").name == "zoo"
    assert get_context("teachers_in_school").name == "school"
    assert get_context("movie_festival_awards").name == "movies"


def test_vocabulary_matches_the_reference(reference_rows):
    """Every location and item the reference generator wrote exists in our context files."""
    by_template = {"crazy_zootopia": "zoo", "teachers_in_school": "school", "movie_festival_awards": "movies"}
    for row in reference_rows:
        ctx = get_context(by_template[row["template"]])
        for node in row["generator_graph"]["nodes"]:
            name = node["name"]
            if name.startswith("total number of "):
                cat, loc = name[len("total number of "):].split(" in ", 1)
                assert cat == ctx.category and loc in ctx.locations
            else:
                item, loc = name.split(" in ", 1)
                assert item in ctx.items and loc in ctx.locations


def test_a_new_context_is_one_file(tmp_path):
    path = tmp_path / "farm.yaml"
    path.write_text(yaml.safe_dump({"name": "farm", "category": "crops", "locations": ["North Field", "South Field", "Mill Hill"],
                                    "items": ["wheat", "barley", "oats"]}))
    r = generate(6, str(path), "forward", seed=1)
    assert r["context"] == "farm" and "Field" in r["problem"] + r["question"] + r["solution"]


@pytest.mark.parametrize("bad,field", [
    ({"name": "x", "category": "c", "locations": ["A"], "items": ["i"]}, "locations"),
    ({"name": "x", "category": "c", "locations": ["A", "A"], "items": ["i"]}, "duplicate"),
    ({"name": "x", "category": "c", "locations": ["A; B", "C"], "items": ["i"]}, "unusable"),
    ({"name": "x", "category": "c", "locations": ["A", "B"], "items": ["i"], "colour": 1}, "colour"),
    ({"name": "x", "locations": ["A", "B"], "items": ["i"]}, "category"),
])
def test_bad_context_files_are_named(tmp_path, bad, field):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(UserError, match=field):
        load_context_file(path)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "interplay", *args], capture_output=True, text=True)


def test_sample_prints_records():
    proc = run_cli("sample", "--op", "7", "--context", "school", "--mode", "reverse", "--seed", "3", "--count", "4")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 4 and len({r["id"] for r in rows}) == 4
    for r in rows:
        assert set(r) >= {"id", "op", "context", "mode", "problem", "question", "solution", "answer", "graph"}
        assert (r["op"], r["context"], r["mode"]) == (7, "school", "reverse")
        assert {"name", "value", "parents"} == set(r["graph"]["nodes"][0]) and "target" in r["graph"]
    assert rows[0] == generate(7, "school", "reverse", seed=3, index=0)


@pytest.mark.parametrize("args,message", [
    (["--op", "1"], "out of range"),
    (["--op", "5", "--context", "mars"], "unknown context"),
    (["--op", "5", "--mode", "sideways"], "unknown mode"),
    (["--op", "5", "--mode", "reverse", "--modulus", "23"], "forward mode only"),
    (["--op", "5", "--count", "-1"], "--count"),
])
def test_sample_bad_input_is_one_line_and_status_2(args, message):
    proc = run_cli("sample", *args)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_a_reader_that_stops_early_is_not_an_error():
    # `interplay sample --count 3000 | head -1`: far more than a pipe buffer, the reader leaves after one line.
    proc = subprocess.Popen([sys.executable, "-m", "interplay", "sample", "--op", "3", "--count", "3000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert json.loads(first)["op"] == 3 and err == ""


def test_world_and_verifier_never_import_torch():
    code = ("import sys, interplay.cli as c; c.build_parser(); import interplay.world, interplay.corpus; "
            "from interplay.world import generate; generate(10); "
            "import interplay.verify; print('torch' in sys.modules, 'transformers' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False False"
