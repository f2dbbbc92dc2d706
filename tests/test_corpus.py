"""The corpus builder: exact mixtures, disjoint splits, byte-identical shards, resume, bad configs."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from interplay.corpus import iter_records
from interplay.corpus.build import build_corpus
from interplay.corpus.config import parse_config
from interplay.corpus.layout import KeyedPermutation, allocate
from interplay.errors import UserError

SMALL = {
    "seed": 3,
    "shard_size": 150,
    "world": {"distractors": [0, 3]},
    "splits": {
        "pretrain": {
            "problems": 1000,
            "modes": {"forward": 0.5, "reverse": 0.5},
            "mixture": [
                {"ops": [2, 4], "weight": 0.2},
                {"ops": [5, 7], "weight": 0.3},
                {"ops": [8, 10], "weight": 0.498, "contexts": {"zoo": 1.0}},
                {"ops": [2, 2], "weight": 0.002, "contexts": {"school": 1.0}, "modes": {"forward": 1.0}},
            ],
        },
        "rl": {"problems": 80, "ops": [3, 6]},
        "eval": {"per_cell": 6, "ops": [2, 5], "contexts": {"zoo": 0.5, "movies": 0.5}},
    },
}


def digest_tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "one"
    manifest = build_corpus(parse_config(SMALL), out, workers=1, progress=False)
    return out, manifest


def test_same_bytes_whatever_the_number_of_workers(built, tmp_path):
    out1, _ = built
    out2 = tmp_path / "two"
    build_corpus(parse_config(SMALL), out2, workers=2, progress=False)
    assert digest_tree(out1) == digest_tree(out2)


def test_splits_are_disjoint_by_canonical_graph(built):
    out, manifest = built
    ids = {split: {r["id"] for r in iter_records(out, split)} for split in manifest["splits"]}
    names = list(ids)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not ids[a] & ids[b], (a, b)
    # and each problem's id really is the hash of its own graph (not a row number)
    from interplay.world import WorldOptions, generate
    from interplay.world.rng import derive_seed

    r = next(iter_records(out, "rl"))
    assert len(r["id"]) == 16 and r["split"] == "rl"
    world = WorldOptions.from_dict(manifest["world"], where="world")
    # replay row 0's draws (interplay.corpus.build.make_row): candidates until one hashes into the split
    redrawn = []
    for attempt in range(2000):
        redrawn.append(generate(r["op"], r["context"], r["mode"], seed=manifest["seed"], options=world,
                                index=derive_seed("interplay-corpus-row", "rl", 0, attempt)))
        if redrawn[-1]["problem"] == r["problem"]:
            break
    assert redrawn[-1]["problem"] == r["problem"] and redrawn[-1]["id"] == r["id"]
    # the candidates rejected before it were other problems, with other ids
    assert len(redrawn) > 1 and all(g["id"] != r["id"] for g in redrawn[:-1])


def test_mixture_counts_are_exact(built):
    out, manifest = built
    rows = list(iter_records(out, "pretrain"))
    assert len(rows) == 1000 == manifest["splits"]["pretrain"]["rows"]
    ops = [r["op"] for r in rows]
    assert sum(2 <= o <= 4 for o in ops) == pytest.approx(0.2 * 1000 + 2, abs=2)
    assert sum(5 <= o <= 7 for o in ops) == pytest.approx(0.3 * 1000, abs=2)
    school = [r for r in rows if r["context"] == "school"]
    assert len(school) == 2 and {r["op"] for r in school} == {2}  # 0.2% of 1000, at op 2 only
    modes = [r["mode"] for r in rows]
    assert abs(modes.count("forward") - 2 - 499) <= 4
    ev = list(iter_records(out, "eval"))
    cells = {(r["op"], r["context"], r["mode"]) for r in ev}
    assert len(ev) == 6 * 4 * 2 and len(cells) == 8
    # the manifest agrees with the shards
    counted = sum(n for ctxs in manifest["splits"]["eval"]["counts"].values() for modes in ctxs.values() for n in modes.values())
    assert counted == len(ev)


def test_rows_are_scattered_not_sorted(built):
    out, _ = built
    ops = [r["op"] for r in iter_records(out, "pretrain")]
    assert ops != sorted(ops)


def test_records_round_trip_through_parquet(built):
    """What comes back from a shard is the generator's record: same fields, a gold graph the
    verifier reads, and the gold trace scores process-correct against it."""
    from interplay.text import format_completion
    from interplay.verify import verify

    out, _ = built
    rows = list(iter_records(out, "pretrain"))
    for r in rows:
        assert set(r) == {"id", "op", "context", "mode", "problem", "question", "solution", "answer", "graph",
                          "modulus", "split"}
        assert ("known" in r["graph"]) == (r["mode"] == "reverse")
        v = verify(r, format_completion(r))
        assert v.outcome_correct and v.process_correct, r["id"]
    # only the columns asked for
    first = next(iter_records(out, "pretrain", columns=["id", "op"]))
    assert set(first) == {"id", "op"} and first["id"] == rows[0]["id"]


def test_resume_rebuilds_only_what_is_missing(built, tmp_path):
    out1, _ = built
    out = tmp_path / "resumed"
    build_corpus(parse_config(SMALL), out, workers=1, progress=False)
    # a build killed mid-way: one shard never renamed into place, a stray temp file, no manifest
    victim = out / "pretrain" / "part-00002.parquet"
    victim.unlink()
    (out / "pretrain" / "part-00002.parquet.tmp999").write_bytes(b"half")
    (out / "manifest.json").unlink()
    untouched = (out / "pretrain" / "part-00001.parquet").stat().st_mtime_ns
    build_corpus(parse_config(SMALL), out, workers=1, progress=False)
    assert (out / "pretrain" / "part-00001.parquet").stat().st_mtime_ns == untouched
    (out / "pretrain" / "part-00002.parquet.tmp999").unlink()
    assert digest_tree(out) == digest_tree(out1)


def test_a_different_config_does_not_resume_into_the_same_directory(built):
    out, _ = built
    other = json.loads(json.dumps(SMALL))
    other["seed"] = 4
    with pytest.raises(UserError, match="different config"):
        build_corpus(parse_config(other), out, workers=1, progress=False)


def test_jsonl_and_datasets(tmp_path):
    cfg = {"seed": 1, "format": "jsonl", "splits": {"eval": {"per_cell": 3, "ops": [2, 3]}}}
    out = tmp_path / "j"
    build_corpus(parse_config(cfg), out, workers=1, progress=False)
    rows = list(iter_records(out, "eval"))
    assert len(rows) == 6 and json.loads((out / "eval" / "part-00000.jsonl").read_text().splitlines()[0])["id"] == rows[0]["id"]
    datasets = pytest.importorskip("datasets")
    cfg["format"] = "parquet"
    out2 = tmp_path / "p"
    build_corpus(parse_config(cfg), out2, workers=1, progress=False)
    ds = datasets.load_dataset("parquet", data_files=str(out2 / "eval" / "*.parquet"), split="train")
    assert ds[0]["id"] == rows[0]["id"] and ds[0]["graph"]["nodes"][0]["name"] == rows[0]["graph"]["nodes"][0]["name"]


def test_allocation_and_permutation():
    counts = allocate({(2, "zoo", "forward"): 0.5, (3, "zoo", "forward"): 0.3, (4, "school", "forward"): 0.2}, 7)
    assert sum(counts.values()) == 7 and all(abs(counts[c] - p * 7) < 1 for c, p in
                                              [((2, "zoo", "forward"), .5), ((3, "zoo", "forward"), .3), ((4, "school", "forward"), .2)])
    for n in (1, 2, 3, 17, 1000):
        perm = KeyedPermutation(n, "k")
        assert sorted(perm(i) for i in range(n)) == list(range(n))


BAD = [
    ({"splits": {"pretrain": {"problems": 10, "ops": [2, 4], "contexts": {"zoo": 0.5, "school": 0.4}}}}, "sum to 1"),
    ({"splits": {"pretrain": {"problems": 10, "ops": [2, 4], "contexts": {"mars": 1.0}}}}, "splits.pretrain.contexts.mars"),
    ({"splits": {"pretrain": {"problems": -5, "ops": [2, 4]}}}, "splits.pretrain.problems"),
    ({"splits": {"pretrain": {"problems": 10, "ops": [2, 99]}}}, "splits.pretrain.ops"),
    ({"splits": {"pretrain": {"problems": 10, "mixture": [{"ops": [2, 3], "weight": 0.5}]}}}, "weights must sum to 1"),
    ({"splits": {"holdout": {"problems": 10, "ops": [2, 3]}}}, "partition"),
    ({"splits": {"pretrain": {"problems": 10, "ops": [2, 3]}}, "world": {"distractors": [3, 1]}}, "world.distractors"),
    ({"splits": {"pretrain": {"problems": 10, "ops": [2, 3], "modes": {"sideways": 1.0}}}}, "sideways"),
    ({"splits": {"pretrain": {"problems": 10, "ops": [2, 3]}}, "colour": "red"}, "colour"),
    ({"splits": {"pretrain": {"problems": 10, "tokens": "1M", "ops": [2, 3]}}}, "exactly one of"),
    ({"splits": {"pretrain": {"problems": 10, "ops": [2, 3], "modes": {"reverse": 1.0}}}, "world": {"modulus": 23}}, "forward mode only"),
]


@pytest.mark.parametrize("data,field", BAD)
def test_bad_configs_name_the_field(data, field):
    with pytest.raises(UserError, match=field.replace(".", r"\.").replace("[", r"\[")):
        parse_config(data)


def test_cli_bad_config_exits_2_and_writes_nothing(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(BAD[0][0]))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "interplay", "corpus", "build", str(cfg), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "sum to 1" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_cli_unwritable_output_exits_2(tmp_path):
    cfg = tmp_path / "ok.yaml"
    cfg.write_text(yaml.safe_dump({"splits": {"eval": {"per_cell": 1, "ops": [2, 2]}}}))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = subprocess.run([sys.executable, "-m", "interplay", "corpus", "build", str(cfg), "--out", str(blocker)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "not a directory" in proc.stderr


def test_token_budget_sets_the_row_count(tmp_path):
    cfg = parse_config({"splits": {"pretrain": {"tokens": "20k", "ops": [2, 3]}}})
    manifest = build_corpus(cfg, tmp_path / "t", workers=1, progress=False)
    tokens = manifest["splits"]["pretrain"]["approx_tokens"]
    assert 0.85 * 20000 <= tokens <= 1.15 * 20000


def test_every_shipped_corpus_recipe_is_valid():
    from interplay.corpus.config import load_config

    recipes = sorted((Path(__file__).resolve().parents[1] / "src" / "interplay" / "configs").glob("corpus-*.yaml"))
    assert len(recipes) >= 6
    for path in recipes:
        cfg = load_config(path)
        assert cfg.splits, path


def test_a_corpus_folder_another_build_is_writing_is_refused(tmp_path, folder_in_use):
    """Two builds into one --out would write the same shards at once: the second stops, naming the first;
    a finished build leaves the lock file empty, so equal configs still give byte-equal folders."""
    cfg = parse_config({"seed": 3, "shard_size": 40, "splits": {"pretrain": {"problems": 80, "ops": [2, 3]}}})
    out = tmp_path / "c"
    with folder_in_use(out) as pid:
        with pytest.raises(UserError, match=f"process {pid} on"):
            build_corpus(cfg, out, workers=1, progress=False)
    build_corpus(cfg, out, workers=1, progress=False)
    assert (out / "manifest.json").is_file() and (out / ".interplay.lock").read_text() == ""


def test_kill_9_mid_build_then_resume_gives_the_same_corpus(tmp_path):
    """A real SIGKILL while shards are being written; the rerun completes to identical bytes."""
    import os
    import signal
    import time

    cfg = {"seed": 9, "shard_size": 40, "splits": {"pretrain": {"problems": 1200, "ops": [6, 12]}}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "interplay", "corpus", "build", str(path), "--out", str(out),
                             "--workers", "1", "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(list((out / "pretrain").glob("part-*.parquet"))) < 3:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written = list((out / "pretrain").glob("part-*.parquet"))
    assert 3 <= len(written) < 30 and not (out / "manifest.json").exists()
    done = subprocess.run([sys.executable, "-m", "interplay", "corpus", "build", str(path), "--out", str(out),
                           "--workers", "1", "--no-progress"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for tmp in (out / "pretrain").glob("*.tmp*"):
        tmp.unlink()  # what the killed process was writing, never renamed into place
    fresh = tmp_path / "fresh"
    build_corpus(parse_config(cfg), fresh, workers=2, progress=False)
    assert digest_tree(out) == digest_tree(fresh)
