"""A study end to end at CI size: real stages, a report with the rewards tables, and a second study
on the same preset reusing the shared base stages from the cache."""

import json

from interplay.cli import main


def test_rewards_study_ci_end_to_end_then_ladder_reuses_the_base(tmp_path, capsys):
    out = tmp_path / "studies"
    assert main(["study", "rewards", "--preset", "ci", "--out", str(out / "rewards")]) == 0
    capsys.readouterr()
    report = (out / "rewards" / "report.md").read_text()
    for needle in ("## Reward arms", "| RL outcome |", "| RL strict |", "right_answer_wrong_process",
                   "OOD-edge pass@1", "interplay rl ", 'reward={"name": "strict"}'):
        assert needle in report
    stages = json.loads((out / "rewards" / "stages.json").read_text())
    # outcome is rl-tiny's own reward, so that arm is the extrapolation study's edge arm (shared cache)
    assert sorted(name for name in stages if name.startswith("rl-")) == ["rl-edge", "rl-reward-strict"]
    # both arms started from the same base model
    inits = {a for name, r in stages.items() if name.startswith("rl-") for a in r["argv"] if a.startswith("init=")}
    assert inits == {"init=" + stages["pretrain"]["folder"] + "/final"}
    for name in ("eval-rl-edge", "eval-reward-strict"):
        results = json.loads((tmp_path / stages[name]["folder"] / "results.json").read_text())
        assert results["settings"]["n"] == 4
    # The base model is sampled once: its ranged evaluation copies eval-base's completions.
    base = tmp_path / stages["eval-base"]["folder"]
    ranged = tmp_path / stages["eval-base-ranged"]["folder"]
    assert json.loads((ranged / "results.json").read_text())["sampling_this_session"]["samples"] == 0
    assert (ranged / "samples.jsonl").read_bytes() == (base / "samples.jsonl").read_bytes()
    # Each stage's resolved config travels with the report: what ran, even once the cache is gone.
    configs = out / "rewards" / "configs"
    strict = json.loads((configs / "rl-reward-strict.json").read_text())
    assert strict["reward"]["name"] == "strict" and strict["init"] == stages["pretrain"]["folder"] + "/final"
    assert json.loads((configs / "eval-base.json").read_text())["n"] == 4
    assert (configs / "ladder.yaml").is_file() and (configs / "corpus.json").is_file()
    assert "in `configs/`" in report

    # The paper's claims are checked by rule in the report, with a verdict per claim.
    assert "The paper's findings, checked on this run" in report
    findings = [line for line in report.splitlines() if "strict reward gives a lower" in line]
    assert len(findings) == 3 and all(line.rstrip().endswith(("| yes |", "| no |")) for line in findings[:2])
    # ... with the gap paired problem by problem over the OOD-edge problems, ± its standard error
    assert all(" points, paired over " in line and " ± " in line for line in findings[:2]), findings
    # the share of right answers reached by a wrong process: n/a when an arm has no right answer (ci's tiny model)
    assert findings[2].rstrip().endswith(("| yes |", "| no |", "| n/a |"))

    assert main(["study", "ladder", "--preset", "ci", "--out", str(out / "ladder")]) == 0
    second = capsys.readouterr().out
    assert second.count("done earlier") == 6  # corpus, tokenizer, pretrain, problems, eval-base, ladder
    assert "Ladder of the base model" in (out / "ladder" / "report.md").read_text()

    # --status reads the shared cache: the rewards study is all done, the extrapolation study's other
    # arms are still to run (their commands are known: the ladder is done).
    capsys.readouterr()
    assert main(["study", "rewards", "--preset", "ci", "--out", str(out / "rewards"), "--status"]) == 0
    text = capsys.readouterr().out
    assert f"({len(stages)} done); cache {out / 'cache-ci'}" in text
    assert main(["study", "extrapolation", "--preset", "ci", "--out", str(out / "extrapolation"), "--status"]) == 0
    import re

    state = dict(re.findall(r"^\[\s*\d+\] (\S+)\s+(done|partial|to run|waits)", capsys.readouterr().out, re.M))
    assert state["rl-edge"] == "done" and state["rl-id"] == "to run" and state["eval-rl-id"] == "to run"
    assert not (out / "extrapolation").exists()  # nothing ran, nothing written


def test_allocation_study_ci_mid_trains_on_the_edge_ops(tmp_path, capsys):
    """The allocation arms mid-train on the OOD-edge ops only (ci: op 4 of a midtrain split over op 3-4)."""
    import numpy as np

    out = tmp_path / "allocation"
    assert main(["study", "allocation", "--preset", "ci", "--out", str(out)]) == 0
    capsys.readouterr()
    stages = json.loads((out / "stages.json").read_text())
    mids = [name for name in stages if name.startswith("midtrain-")]
    assert mids == ["midtrain-beta0", "midtrain-beta0.5"]
    for name in mids:
        doc_ops = np.load(tmp_path / stages[name]["folder"] / "data" / "train" / "doc_ops.npy")
        assert len(doc_ops) > 0 and set(doc_ops.tolist()) == {4}
    # beta = 1 is the RL recipe itself: the extrapolation study's edge arm
    assert "rl-edge" in stages and "rl-beta1" not in stages
    report = (out / "report.md").read_text()
    assert "restricted to them" in report and "| β = 1 |" in report
    # The budget table shows what each RL arm's rollouts really cost next to the plan's maximum lengths.
    budget = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
              for line in report.splitlines() if line.startswith("| 0") or line.startswith("| 1 ")}
    assert budget["0"][-1] == "0"
    rows = [json.loads(line) for line in (tmp_path / stages["rl-edge"]["folder"] / "metrics.jsonl").open()]
    generated = [r["budget/token_equivalents_generated"] for r in rows if "budget/token_equivalents_generated" in r][-1]
    assert budget["1"][-1] == f"{generated:,.0f}"
    assert 0 < generated <= float(budget["1"][3].replace(",", ""))  # never more than the maximum lengths


def test_a_study_at_two_seeds_shares_the_data_and_reports_both(tmp_path, capsys):
    out = tmp_path / "ladder"
    assert main(["study", "ladder", "--preset", "ci", "--seeds", "0,1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("done earlier") == 3  # seed 1 reuses seed 0's corpus, tokenizer and problems
    stages = [json.loads((out / f"seed-{s}" / "stages.json").read_text()) for s in (0, 1)]
    assert stages[0]["corpus"]["folder"] == stages[1]["corpus"]["folder"]
    assert stages[0]["pretrain"]["folder"] != stages[1]["pretrain"]["folder"]
    assert "train.seed=1" in stages[1]["pretrain"]["argv"]
    summary = (out / "report.md").read_text()
    assert "seeds 0, 1" in summary and "| base |" in summary and " ± " in summary
    assert (out / "seed-0" / "report.md").is_file() and (out / "report.html").is_file()
    # --status over the seeds: one block per seed, every stage done (run nothing)
    assert main(["study", "ladder", "--preset", "ci", "--seeds", "0,1", "--out", str(out), "--status"]) == 0
    headers = [line for line in capsys.readouterr().out.splitlines() if line.startswith("# study")]
    assert [h.split(":")[0] for h in headers] == ["# study ladder, preset ci, seed 0", "# study ladder, preset ci, seed 1"]
    assert all("(6 done)" in h for h in headers), headers
