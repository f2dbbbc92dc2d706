"""Studies: every recipe resolves into a valid stage graph on every preset; the runner caches and resumes."""

import json
import os
from pathlib import Path

import pytest

from interplay.errors import UserError
from interplay.studies.recipes import STUDIES, Preset, demo_recipe, preset_path, study_recipe
from interplay.studies.stages import Stage, StageRunner, arm_ranges, check_graph


@pytest.mark.parametrize("preset_name", ["demo", "cpu", "paper"])
@pytest.mark.parametrize("study", STUDIES)
def test_each_study_resolves_into_a_valid_graph(study, preset_name):
    preset = Preset.load(preset_path("study", preset_name))
    recipe = study_recipe(study, preset)
    check_graph(recipe.stages)
    names = [s.name for s in recipe.stages]
    # every study starts from the ladder of its base model and evaluates what it reports
    assert names[:3] == ["corpus", "tokenizer", "pretrain"] or study == "context"
    assert all(stage in names for stage in recipe.evals.values())
    kinds = [s.kind for s in recipe.stages]
    if study == "extrapolation":
        assert kinds.count("rl") == 4
    if study == "rewards":
        assert kinds.count("rl") == 4
        rewards = [a for s in recipe.stages if s.kind == "rl" for a in s.argv if a.startswith("reward=")]
        # the outcome arm is the RL config's own reward: no override, so it is the extrapolation edge arm
        assert sorted(rewards) == sorted({
            'reward={"alpha": 0.5, "name": "composite"}',
            'reward={"alpha": 0.2, "name": "composite"}', 'reward={"name": "strict"}'})
        assert recipe.evals["RL outcome"] == "eval-rl-edge"
        edge = next(s for s in study_recipe("extrapolation", preset).stages if s.name == "rl-edge")
        assert next(s for s in recipe.stages if s.name == "rl-edge").argv == edge.argv
    if study == "context":
        assert kinds.count("pretrain") == 4 and kinds.count("rl") == 4 and kinds.count("tokenizer") == 1
        # a preset with fixed op ranges labels the context evaluations with them (not the paper's defaults)
        evals = [s.argv for s in recipe.stages if s.kind == "eval"]
        assert len(evals) == 8
        for argv in evals:
            if preset.op_ranges is None:
                assert "--op-ranges" not in argv
            else:
                assert argv[argv.index("--op-ranges") + 1] == preset.op_ranges_arg("ladder")
    if study == "allocation":
        # mid-training and RL train on the same edge ops: the paper mid-trains on its OOD-edge data
        edge = "data.ops=" + preset.arm_ops("edge", "ladder")
        trained = [s for s in recipe.stages if s.kind in ("midtrain", "rl")]
        assert trained and all(edge in s.argv for s in trained)
        assert all("data.split=midtrain" in s.argv for s in trained if s.kind == "midtrain")
        # beta = 1 with exactly the RL config's steps is the extrapolation study's edge arm, trained once
        last = recipe.extra["plans"][-1]
        if last["mid_steps"] == 0 and last["rl_steps"] == _rl_steps(preset):
            assert recipe.evals["β = 1"] == "eval-rl-edge"
            edge_arm = next(s for s in study_recipe("extrapolation", preset).stages if s.name == "rl-edge")
            assert next(s for s in recipe.stages if s.name == "rl-edge").argv == edge_arm.argv
        else:
            assert "rl-edge" not in names
    # one base model for every arm: a single pre-training stage outside the context study
    if study != "context":
        assert kinds.count("pretrain") == 1


def _rl_steps(preset):
    from interplay.rl.config import load_rl_config

    return load_rl_config(preset.rl, preset.rl_set + ["init=x"]).train.steps


def test_presets_share_or_not_the_beta1_arm_as_configured():
    """demo and paper budgets are exactly their RL recipe, so beta = 1 reuses the edge arm; cpu's is half of it."""
    shared = {name: "rl-edge" in [s.name for s in study_recipe("allocation", Preset.load(preset_path("study", name))).stages]
              for name in ("demo", "cpu", "paper")}
    assert shared == {"demo": True, "cpu": False, "paper": True}


def test_stage_configs_validate_with_their_overrides():
    """The --set overrides a preset adds are accepted by the stages' own config loaders."""
    from interplay.lm.trainconfig import load_run_config
    from interplay.rl.config import load_rl_config

    for name in ("demo", "cpu", "paper"):
        p = Preset.load(preset_path("study", name))
        load_run_config(p.pretrain, "pretrain", p.pretrain_set + ["tokenizer=x", "data.path=x"])
        load_rl_config(p.rl, p.rl_set + ["init=x", "data.path=x", "data.ops=[2, 3]"])
    p = Preset.load(preset_path("demo", "demo"))
    load_run_config(p.pretrain, "pretrain", p.pretrain_set)
    load_rl_config(p.rl, p.rl_set)


def test_paper_preset_has_the_papers_settings():
    p = Preset.load(preset_path("study", "paper"))
    assert (p.eval.n, p.eval.temperature, p.eval.per_op) == (128, 0.7, 200)
    assert p.op_ranges == {"ID": [2, 10], "OOD-edge": [11, 14], "OOD-hard": [15, 20]}
    assert p.arms == {"id": [7, 10], "mixed": [9, 12], "edge": [11, 14], "hard": [17, 20]}
    assert p.launcher.startswith("torchrun")
    recipe = study_recipe("allocation", p)
    steps = [(pl["rl_share"], pl["mid_steps"], pl["rl_steps"]) for pl in recipe.extra["plans"]]
    assert steps == [(0, 8000, 0), (0.2, 6400, 40), (0.5, 4000, 100), (0.8, 1600, 160), (1, 0, 200)]


def test_a_study_seed_reaches_every_training_stage_and_the_evaluation_but_not_the_data():
    path = preset_path("study", "demo")
    plain = study_recipe("allocation", Preset.load(path))
    seeded = study_recipe("allocation", Preset.load(path, seed=3))
    by_name = {s.name: s for s in plain.stages}
    assert [s.name for s in seeded.stages] == list(by_name)
    for stage in seeded.stages:
        if stage.kind in ("pretrain", "midtrain", "rl"):
            assert "train.seed=3" in stage.argv and not any(a.startswith("train.seed=") for a in by_name[stage.name].argv)
        elif stage.kind == "eval":
            assert stage.argv[stage.argv.index("--seed") + 1] == "3"
            assert by_name[stage.name].argv[by_name[stage.name].argv.index("--seed") + 1] == "0"
        else:  # corpus, tokenizer, problems, ladder: the same commands, so the same cached stages
            assert stage.argv == by_name[stage.name].argv
    # a stage whose config already has that seed keeps its command (and cached folder): the demo's pre-training
    # and RL configs have seed 0, its mid-training config seed 1
    zero = {s.name: s.argv for s in study_recipe("allocation", Preset.load(path, seed=0)).stages}
    for name, stage in by_name.items():
        if stage.kind == "midtrain":
            assert "train.seed=0" in zero[name]
        else:
            assert zero[name] == stage.argv
    # the context study's own pre-trainings get it too
    context = study_recipe("context", Preset.load(preset_path("study", "cpu"), seed=1))
    assert all("train.seed=1" in s.argv for s in context.stages if s.kind in ("pretrain", "rl"))
    with pytest.raises(UserError, match="seed must be a whole number"):
        Preset.load(path, seed=-1)


def test_arm_ranges_reproduce_the_papers_arms_on_the_papers_ladder():
    arms = arm_ranges({"ID": (2, 10), "OOD-edge": (11, 14), "OOD-hard": (15, 20)})
    assert arms == {"id": (7, 10), "mixed": (9, 12), "edge": (11, 14), "hard": (17, 20)}
    small = arm_ranges({"ID": (2, 3), "OOD-edge": (4, 5), "OOD-hard": (6, 8)})
    assert small == {"id": (2, 3), "mixed": (2, 5), "edge": (4, 5), "hard": (6, 8)}


def test_graph_errors_name_the_stage():
    with pytest.raises(UserError, match="rl.*not an earlier stage"):
        check_graph([Stage("rl", ["rl", "x.yaml", "--set", "init={final:pretrain}"])])
    with pytest.raises(UserError, match="used twice"):
        check_graph([Stage("a", ["eval"]), Stage("a", ["eval"])])
    with pytest.raises(UserError, match="unknown study"):
        study_recipe("nope", Preset.load(preset_path("study", "demo")))


def test_bad_preset_field_is_named(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("name: x\ncorpus: corpus-demo.yaml\npretrain: pretrain-tiny.yaml\nrl: rl-tiny.yaml\nrl_sett: []\n")
    with pytest.raises(UserError, match="rl_sett"):
        Preset.load(bad)
    bad.write_text("name: x\ncorpus: nothere.yaml\npretrain: pretrain-tiny.yaml\nrl: rl-tiny.yaml\n")
    with pytest.raises(UserError, match="corpus"):
        Preset.load(bad)
    bad.write_text("name: x\ncorpus: corpus-demo.yaml\npretrain: pretrain-tiny.yaml\nrl: rl-tiny.yaml\n"
                   "context: {corpora: {'0': corpus-demo.yaml}, pretrain_set: [train.tokens]}\n")
    with pytest.raises(UserError, match="context.pretrain_set"):
        study_recipe("context", Preset.load(bad))


def _fake_commands(calls, fail_on=None):
    def execute(argv):
        calls.append(argv)
        if fail_on and argv[0] == fail_on:
            return 1
        if argv[0] != "ladder":
            Path(argv[argv.index("--out") + 1]).mkdir(parents=True, exist_ok=True)
        else:
            Path(argv[argv.index("--yaml") + 1]).write_text(
                "op_ranges:\n  ID: [2, 4]\n  OOD-edge: [5, 6]\n  OOD-hard: [7, 9]\n")
        return 0
    return execute


def test_an_interrupted_stage_counts_the_time_of_every_attempt(tmp_path):
    import time

    stages = [Stage("pretrain", ["pretrain", "p.yaml", "--out", "{out}"])]

    def interrupted(argv):
        time.sleep(0.3)
        raise KeyboardInterrupt  # Ctrl-C (a kill -9 loses at most the clock's 30 s tick instead)

    def finishing(argv):
        time.sleep(0.1)
        Path(argv[argv.index("--out") + 1]).mkdir(parents=True, exist_ok=True)
        return 0

    with pytest.raises(KeyboardInterrupt):
        StageRunner(tmp_path, echo=lambda s: None, execute=interrupted).run(stages)
    runner = StageRunner(tmp_path, echo=lambda s: None, execute=finishing)
    record = runner.run(stages)["pretrain"]
    assert record["attempts"] == 2 and 0.4 <= record["wall_s"] < 5
    assert not list(tmp_path.glob(".*.time.json"))  # the running total is gone once the stage is done
    # a different command does not inherit another one's attempts
    other = [Stage("pretrain", ["pretrain", "q.yaml", "--out", "{out}"])]
    assert StageRunner(tmp_path, echo=lambda s: None, execute=finishing).run(other)["pretrain"]["attempts"] == 1


def test_a_second_study_on_the_cache_waits_for_a_stage_the_first_is_running(tmp_path):
    """Two studies started at once share the base model's stage: the second must not train into the same
    folder while the first does; it waits, then reuses what the first finished (one run, not two)."""
    import threading

    stages = [Stage("pretrain", ["pretrain", "p.yaml", "--out", "{out}"]),
              Stage("eval", ["eval", "--model", "{final:pretrain}", "--out", "{out}"])]
    started, release, calls = threading.Event(), threading.Event(), []

    def slow(argv):  # the first study's pre-training: runs until the test lets it finish
        calls.append(("first", argv[0]))
        if argv[0] == "pretrain":
            started.set()
            assert release.wait(30)
        Path(argv[argv.index("--out") + 1]).mkdir(parents=True, exist_ok=True)
        return 0

    first = threading.Thread(target=StageRunner(tmp_path, echo=lambda s: None, execute=slow).run, args=(stages,))
    first.start()
    try:
        _second_waits_then_reuses(tmp_path, stages, first, started, release, calls)
    finally:
        release.set()
        first.join(30)


def _second_waits_then_reuses(tmp_path, stages, first, started, release, calls):
    import threading

    def quick(argv):
        calls.append(("second", argv[0]))
        Path(argv[argv.index("--out") + 1]).mkdir(parents=True, exist_ok=True)
        return 0

    assert started.wait(30)
    said: list[str] = []
    waiting = threading.Event()
    second_runner = StageRunner(tmp_path, echo=lambda s: (said.append(s), "waiting for it" in s and waiting.set()),
                                execute=quick)
    second = threading.Thread(target=second_runner.run, args=(stages[:1],))
    second.start()
    assert waiting.wait(30)
    rows = StageRunner(tmp_path, echo=lambda s: None).status(stages)
    assert rows[0]["state"] == "partial" and f"running now (process {os.getpid()} on" in rows[0]["detail"]
    assert calls == [("first", "pretrain")]  # the second has not started the stage
    release.set()
    first.join(30)
    second.join(30)
    assert calls == [("first", "pretrain"), ("first", "eval")]  # trained once
    assert any("done earlier" in s for s in said) and second_runner.records["pretrain"]["attempts"] == 1
    assert StageRunner(tmp_path, echo=lambda s: None).status(stages)[0]["state"] == "done"


def test_a_stage_that_ends_lets_go_of_the_folder_its_command_locked(tmp_path):
    """A study runs its commands in one process; a training command locks its --out for the process's
    life. When the stage ends, failed or not, the folder is free again (for a second study to resume it)."""
    from interplay import locks

    def locking(argv):
        locks.hold_for_process(Path(argv[argv.index("--out") + 1]) / ".interplay.lock", "--out")
        return 1  # the run failed (a NaN, say)

    runner = StageRunner(tmp_path, echo=lambda s: None, execute=locking)
    with pytest.raises(UserError, match="stage pretrain failed"):
        runner.run([Stage("pretrain", ["pretrain", "p.yaml", "--out", "{out}"])])
    lock = runner.dirs["pretrain"] / ".interplay.lock"
    assert lock.is_file() and locks.holder(lock) is None


def test_an_interrupted_stage_stops_the_whole_study(tmp_path):
    """Ctrl-C (or SIGTERM) inside a stage's command ends it with status 130: that stops the study (and
    `study all`), rather than counting as one failed stage and going on to the next study."""
    calls = []

    def interrupted(argv):
        calls.append(argv[0])
        return 130

    stages = [Stage("pretrain", ["pretrain", "p.yaml", "--out", "{out}"]),
              Stage("rl", ["rl", "r.yaml", "--out", "{out}"])]
    with pytest.raises(KeyboardInterrupt):
        StageRunner(tmp_path, echo=lambda s: None, execute=interrupted).run(stages)
    assert calls == ["pretrain"]


def _base_and_edge_arm() -> list[Stage]:
    """A base model, its ladder, and an RL arm whose op range and evaluation come from that ladder."""
    return [
        Stage("pretrain", ["pretrain", "p.yaml", "--out", "{out}"]),
        Stage("eval-base", ["eval", "--model", "{final:pretrain}", "--out", "{out}"]),
        Stage("ladder", ["ladder", "--eval", "{dir:eval-base}", "--yaml", "{out}/ladder.yaml"]),
        Stage("rl-edge", ["rl", "r.yaml", "--out", "{out}", "--set", "data.ops={arm:ladder:edge}"]),
        Stage("eval-rl", ["eval", "--model", "{final:rl-edge}", "--op-ranges", "{ranges:ladder}", "--out", "{out}"]),
    ]


def test_runner_reuses_finished_stages_resumes_after_failure_and_resolves_ladder_values(tmp_path):
    stages = _base_and_edge_arm()
    calls = []
    with pytest.raises(UserError, match="stage rl-edge failed"):
        StageRunner(tmp_path, echo=lambda s: None, execute=_fake_commands(calls, fail_on="rl")).run(stages)
    assert [c[0] for c in calls] == ["pretrain", "eval", "ladder", "rl"]
    calls.clear()
    runner = StageRunner(tmp_path, echo=lambda s: None, execute=_fake_commands(calls))
    records = runner.run(stages)
    # finished stages are reused; the failed one and those after it run
    assert [c[0] for c in calls] == ["rl", "eval"]
    assert calls[0][-1] == "data.ops=[5, 6]"
    assert "ID=2-4,OOD-edge=5-6,OOD-hard=7-9" in calls[1]
    assert calls[1][2] == str(runner.dirs["rl-edge"] / "final")
    assert set(records) == {s.name for s in stages}
    marker = json.loads((runner.dirs["rl-edge"] / ".interplay-stage.json").read_text())
    assert marker["argv"] == calls[0]
    # a changed command is a different stage folder (hashed), the old one stays cached
    calls.clear()
    stages[3] = Stage("rl-edge", ["rl", "r.yaml", "--out", "{out}", "--set", "data.ops={arm:ladder:hard}"])
    runner2 = StageRunner(tmp_path, echo=lambda s: None, execute=_fake_commands(calls))
    runner2.run(stages)
    assert [c[0] for c in calls] == ["rl", "eval"] and runner2.dirs["rl-edge"] != runner.dirs["rl-edge"]


def test_a_cache_spelled_relative_or_absolute_holds_the_same_stages(tmp_path, monkeypatch):
    # Stage hashes cover the commands, which name folders in the cache: `--cache runs/c` and
    # `--cache /abs/runs/c` must not make two copies of a pre-training.
    stages = [
        Stage("corpus", ["corpus", "build", "c.yaml", "--out", "{out}"]),
        Stage("pretrain", ["pretrain", "p.yaml", "--data", "{dir:corpus}", "--out", "{out}"]),
    ]
    monkeypatch.chdir(tmp_path)
    calls = []
    first = StageRunner("runs/c", echo=lambda s: None, execute=_fake_commands(calls)).run(stages)
    assert len(calls) == 2
    calls.clear()
    again = StageRunner(tmp_path / "runs" / "c", echo=lambda s: None, execute=_fake_commands(calls)).run(stages)
    assert calls == [] and again["pretrain"]["folder"] == first["pretrain"]["folder"]
    assert Path(first["pretrain"]["folder"]).is_absolute()


def test_status_says_what_is_done_partial_to_run_or_waiting(tmp_path):
    stages = _base_and_edge_arm()

    def status():
        return [(r["stage"], r["state"], r["detail"]) for r in StageRunner(tmp_path, echo=lambda s: None).status(stages)]

    assert status() == [("pretrain", "to run", ""), ("eval-base", "to run", ""), ("ladder", "to run", ""),
                        ("rl-edge", "waits", "for ladder"), ("eval-rl", "waits", "for rl-edge")]
    calls = []
    with pytest.raises(UserError):  # pretrain, evaluation and ladder finish; RL fails after a checkpoint
        StageRunner(tmp_path, echo=lambda s: None, execute=_fake_commands(calls, fail_on="rl")).run(stages)
    assert [c[0] for c in calls] == ["pretrain", "eval", "ladder", "rl"]
    rl_folder = StageRunner(tmp_path, execute=_fake_commands(calls)).status(stages)[3]["folder"]
    (Path(rl_folder) / "checkpoints" / "step-00000020").mkdir(parents=True)
    (Path(rl_folder) / "checkpoints" / "step-00000020" / "interplay_state.pt").write_bytes(b"")
    (Path(rl_folder) / "checkpoints" / "step-00000030").mkdir()  # half-written: not a checkpoint
    rows = status()
    assert [r[1] for r in rows] == ["done", "done", "done", "partial", "to run"]
    assert rows[3][2] == "1 attempt, 0 s wall so far; last checkpoint at step 20"
    (Path(rl_folder) / "metrics.jsonl").write_text('{"step": 24, "loss": 1}\n{"step": 25, "lo')  # mid-write
    assert status()[3][2] == "1 attempt, 0 s wall so far; step 24 logged, last checkpoint at step 20"
    assert len(calls) == 4  # status runs nothing


def test_status_tells_how_many_steps_a_training_stage_has_left_and_for_how_long(tmp_path):
    """A ten-hour study is checked on with --status: the step count comes from the stage's config and
    --set overrides, the time to go from the median of its recent steps (one slow step does not move it)."""
    from interplay.lm.configtools import CONFIG_DIR

    stages = [Stage("pretrain", ["pretrain", str(CONFIG_DIR / "pretrain-tiny.yaml"), "--out", "{out}",
                                 "--set", "train.steps=400"]),
              Stage("rl", ["rl", str(CONFIG_DIR / "rl-tiny.yaml"), "--out", "{out}", "--set", "train.steps=30"])]
    runner = StageRunner(tmp_path, echo=lambda s: None)
    folders = [Path(r["folder"]) for r in runner.status(stages)]
    for folder in folders:
        folder.mkdir(parents=True)
    pace = [9.0] * 19 + [300.0]  # the last step was slowed by a pause
    (folders[0] / "metrics.jsonl").write_text("".join(json.dumps({"step": i + 1, "step_s": t}) + "\n"
                                                      for i, t in enumerate(pace)) + '{"step": 20, "eval": {}}\n')
    (folders[1] / "metrics.jsonl").write_text("".join(json.dumps({"step": i + 1, "time/step_s": 30.0}) + "\n"
                                                      for i in range(10)))
    rows = runner.status(stages)
    assert rows[0]["detail"].endswith("step 20 of 400 logged, no checkpoint yet; about 57 min to go at 9.0 s a step")
    assert rows[1]["detail"].endswith("step 10 of 30 logged, no checkpoint yet; about 10 min to go at 30.0 s a step")


def test_a_moved_cache_or_checkout_keeps_its_stages(tmp_path):
    import shutil

    (tmp_path / "repo1").mkdir()
    config = tmp_path / "repo1" / "p.yaml"
    config.write_text("lr: 1\n")

    def stages(cfg):
        return [Stage("corpus", ["corpus", "build", "c.yaml", "--out", "{out}"]),
                Stage("pretrain", ["pretrain", str(cfg), "--set", "data.path={dir:corpus}", "--out", "{out}"])]

    calls = []
    StageRunner(tmp_path / "a", echo=lambda s: None, execute=_fake_commands(calls)).run(stages(config))
    assert len(calls) == 2
    shutil.move(tmp_path / "a", tmp_path / "b")  # the cache moves ...
    shutil.copytree(tmp_path / "repo1", tmp_path / "repo2")  # ... and the checkout is cloned elsewhere
    calls.clear()
    records = StageRunner(tmp_path / "b", echo=lambda s: None, execute=_fake_commands(calls)).run(
        stages(tmp_path / "repo2" / "p.yaml"))
    assert calls == []
    folder = Path(records["pretrain"]["folder"])
    assert folder.parent == tmp_path / "b"  # records say where the stages are now
    assert f"data.path={records['corpus']['folder']}" in records["pretrain"]["argv"]
    # a config with other contents is another stage
    (tmp_path / "repo2" / "p.yaml").write_text("lr: 2\n")
    StageRunner(tmp_path / "b", echo=lambda s: None, execute=_fake_commands(calls)).run(
        stages(tmp_path / "repo2" / "p.yaml"))
    assert [c[0] for c in calls] == ["pretrain"]


def test_a_config_is_keyed_by_what_it_says_and_the_model_preset_it_names(tmp_path, monkeypatch):
    import interplay.lm.configtools as configtools

    presets = tmp_path / "shipped"
    presets.mkdir()
    (presets / "model-m1.yaml").write_text("hidden_size: 64\n")
    (presets / "model-m2.yaml").write_text("hidden_size: 128\n")
    monkeypatch.setattr(configtools, "CONFIG_DIR", presets)
    config = tmp_path / "p.yaml"
    config.write_text("model: m1\noptim: {lr: 1.0e-3, min_lr: 1.0e-4}\n")
    calls = []

    def run(*sets):
        stage = Stage("pretrain", ["pretrain", str(config), *[a for s in sets for a in ("--set", s)], "--out", "{out}"])
        return StageRunner(tmp_path / "cache", echo=lambda s: None, execute=_fake_commands(calls)).run([stage])

    first = run()
    assert len(calls) == 1
    # A comment, a blank line, another layout and key order: the same config, the same stage.
    config.write_text("# why these rates\nmodel: m1\n\noptim:\n  min_lr: 1.0e-4\n  lr: 0.001\n")
    assert run()["pretrain"]["folder"] == first["pretrain"]["folder"] and len(calls) == 1
    # A changed value is another stage; so is an edit of the model preset the config names ...
    config.write_text("model: m1\noptim: {lr: 2.0e-3, min_lr: 1.0e-4}\n")
    run()
    assert len(calls) == 2
    (presets / "model-m1.yaml").write_text("hidden_size: 96\n")
    run()
    assert len(calls) == 3
    # ... or of the one a --set names instead (the file's own model no longer counts then)
    run("model=m2")
    assert len(calls) == 4
    (presets / "model-m1.yaml").write_text("hidden_size: 80\n")
    run("model=m2")
    assert len(calls) == 4
    (presets / "model-m2.yaml").write_text("hidden_size: 256\n")
    run("model=m2")
    assert len(calls) == 5


def test_settings_that_change_nothing_a_training_computes_keep_its_stage(tmp_path, monkeypatch):
    """Threads, compile, logging, checkpoint cadence: a resumed run may change them, so may a study's stage
    (a bigger machine's threads must not retrain a 10B-token base model). Anything else is another stage."""
    import interplay.studies.stages as stages_module
    from interplay.studies.stages import neutral

    config = tmp_path / "p.yaml"
    config.write_text("optim: {lr: 1.0e-3}\ncheckpoint: {every: 100}\nlog: {every: 10}\n")
    calls = []

    def run(*sets, kind="pretrain"):
        stage = Stage(kind, [kind, str(config), *[a for s in sets for a in ("--set", s)], "--out", "{out}"])
        return StageRunner(tmp_path / "cache", echo=lambda s: None, execute=_fake_commands(calls)).run([stage])

    first = run("train.threads=2")
    assert run("train.threads=16", "train.compile=false", "log.tensorboard=false")[
        "pretrain"]["folder"] == first["pretrain"]["folder"]
    config.write_text("optim: {lr: 1.0e-3}\ncheckpoint: {every: 5, keep: 9}\nlog: {every: 1}\neval: {every: 7}\n")
    run()
    assert len(calls) == 1
    run("optim.lr=2.0e-3")  # what it computes: another stage
    assert len(calls) == 2
    assert not neutral("eval", "log.every") and not neutral("pretrain", "model.preset")
    assert neutral("rl", "checkpoint.every") and not neutral("rl", "checkpoint")
    # A stage made while every setting counted (the "all-fields" key) is still found and reused.
    with monkeypatch.context() as m:
        m.setattr(stages_module, "neutral", lambda kind, key: False)
        old = run("train.threads=3", kind="midtrain")
    assert len(calls) == 3
    assert run("train.threads=3", kind="midtrain")["midtrain"]["folder"] == old["midtrain"]["folder"]
    assert run("train.threads=8", kind="midtrain")["midtrain"]["folder"] != old["midtrain"]["folder"]
    assert len(calls) == 4  # (the old key counted threads=3: only that spelling finds the old stage)


def test_stages_keyed_by_config_bytes_are_still_reused(tmp_path, monkeypatch):
    # Before 2026-12-01 a config counted by its bytes (stage folder name and marker key alike).
    import hashlib

    import interplay.studies.stages as stages_module

    config = tmp_path / "p.yaml"
    config.write_text("lr: 1  # a comment\n")
    stages = [Stage("corpus", ["corpus", "build", str(config), "--out", "{out}"]),
              Stage("pretrain", ["pretrain", str(config), "--set", "data.path={dir:corpus}", "--out", "{out}"])]
    calls = []
    with monkeypatch.context() as m:  # the old runner
        m.setattr(stages_module, "config_meaning",
                  lambda path, argv, **kw: hashlib.sha256(path.read_bytes()).hexdigest())
        old = StageRunner(tmp_path / "cache", echo=lambda s: None, execute=_fake_commands(calls)).run(stages)
    assert len(calls) == 2
    new = StageRunner(tmp_path / "cache", echo=lambda s: None, execute=_fake_commands(calls)).run(stages)
    assert len(calls) == 2 and new["pretrain"]["folder"] == old["pretrain"]["folder"]
    # Edited once, the old stages no longer match either key and run again, keyed by meaning from then on:
    # the next comment edit keeps them.
    config.write_text("lr: 1  # another comment\n")
    StageRunner(tmp_path / "cache", echo=lambda s: None, execute=_fake_commands(calls)).run(stages)
    assert [c[0] for c in calls] == ["corpus", "pretrain"] * 2
    config.write_text("lr: 1\n")
    StageRunner(tmp_path / "cache", echo=lambda s: None, execute=_fake_commands(calls)).run(stages)
    assert len(calls) == 4


@pytest.mark.parametrize("spelling", ["absolute", "relative"])
def test_stages_made_before_portable_keys_are_still_reused(tmp_path, monkeypatch, spelling):
    # Before 2026-11-30 a stage folder was named by its command exactly as written, cache path included
    # (absolute, or relative when --cache was given so), and its marker held that command.
    import hashlib

    monkeypatch.chdir(tmp_path)
    root = tmp_path / "cache"
    written = str(root) if spelling == "absolute" else "cache"

    def old_stage(name, argv):  # what the old runner left behind
        digest = hashlib.sha256(json.dumps([argv, {}]).encode()).hexdigest()[:10]
        folder = f"{written}/{name}-{digest}"
        real = [a.replace("{out}", folder) for a in argv]
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / ".interplay-stage.json").write_text(json.dumps(
            {"stage": name, "argv": real, "configs": {}, "folder": folder, "wall_s": 12.0}))
        return folder

    corpus = old_stage("corpus", ["corpus", "build", "c.yaml", "--out", "{out}"])
    old_stage("pretrain", ["pretrain", "p.yaml", "--set", f"data.path={corpus}", "--out", "{out}"])
    calls = []
    stages = [Stage("corpus", ["corpus", "build", "c.yaml", "--out", "{out}"]),
              Stage("pretrain", ["pretrain", "p.yaml", "--set", "data.path={dir:corpus}", "--out", "{out}"]),
              Stage("eval", ["eval", "--model", "{final:pretrain}", "--out", "{out}"])]
    records = StageRunner("cache", echo=lambda s: None, execute=_fake_commands(calls)).run(stages)
    assert [c[0] for c in calls] == ["eval"]  # the two old stages are reused, the new one runs
    assert records["pretrain"]["wall_s"] == 12.0
    # the new stage's marker carries the portable key, so it survives a move of the cache
    marker = json.loads((Path(records["eval"]["folder"]) / ".interplay-stage.json").read_text())
    assert marker["key"]["argv"][-1].startswith("<cache>/eval-")


def test_a_study_loads_all_its_code_before_its_first_stage(tmp_path):
    # A fresh interpreter: the stage commands import lazily, so before the first stage most of the
    # package is not loaded; after it, all of it is (a later edit of the source tree cannot mix in).
    import subprocess
    import sys

    code = """
import pkgutil, sys
import interplay
from interplay.studies import stages
names = [m.name for m in pkgutil.walk_packages(interplay.__path__, "interplay.") if m.name != "interplay.__main__"]
before = [n for n in names if n not in sys.modules]
assert "interplay.rl.learner" in before and "interplay.evaluate.plots" in before, before
stages._execute_in_process = lambda argv: 0
assert stages.StageRunner(sys.argv[1]).execute(["eval", "--out", "x"]) == 0
print(len(names), [n for n in names if n not in sys.modules])
"""
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    count, missing = out.stdout.split(" ", 1)
    assert int(count) > 50 and missing.strip() == "[]"


def test_unhashed_runner_refuses_a_changed_command(tmp_path):
    calls = []
    StageRunner(tmp_path, hashed_dirs=False, echo=lambda s: None, execute=_fake_commands(calls)).run(
        [Stage("pretrain", ["pretrain", "a.yaml", "--out", "{out}"])])
    with pytest.raises(UserError, match="another command"):
        StageRunner(tmp_path, hashed_dirs=False, echo=lambda s: None, execute=_fake_commands(calls)).run(
            [Stage("pretrain", ["pretrain", "b.yaml", "--out", "{out}"])])


def test_demo_recipe_is_the_pipeline():
    p = Preset.load(preset_path("demo", "demo"))
    kinds = [s.kind for s in demo_recipe(p)]
    assert kinds == ["corpus", "tokenizer", "pretrain", "problems", "rl", "eval", "eval"]


def test_training_stages_go_through_the_presets_launcher(tmp_path):
    """The paper preset's launcher (torchrun ... -m interplay) starts training stages as a process of
    its own; here `true` / `false` stand in for it, so the stage succeeds or fails by the launcher's status."""
    ok = StageRunner(tmp_path / "a", echo=lambda s: None, launcher="true")
    ok.run([Stage("pretrain", ["pretrain", "p.yaml", "--out", "{out}"])])
    assert (ok.dirs["pretrain"] / ".interplay-stage.json").is_file()
    with pytest.raises(UserError, match="stage rl failed"):
        StageRunner(tmp_path / "b", echo=lambda s: None, launcher="false").run(
            [Stage("rl", ["rl", "r.yaml", "--out", "{out}"])])


def test_context_b_by_op_counts_only_that_context(tmp_path):
    from interplay.studies.report import context_by_op

    rows = []
    # school op 2: problem s1 solved by 1 of 2 samples (process), s2 by none; zoo rows all correct
    for pid, ctx, op, flags in [("s1", "school", 2, [True, False]), ("s2", "school", 2, [False, False]),
                                ("s3", "school", 3, [True, True]), ("z1", "zoo", 2, [True, True])]:
        for j, ok in enumerate(flags):
            rows.append({"id": pid, "op": op, "context": ctx, "mode": "forward", "sample_index": j,
                         "outcome_correct": ok or pid == "s2", "process_correct": ok})
    (tmp_path / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cut = context_by_op(tmp_path, "school", [1, 2])
    assert cut[2]["process@1"] == 0.25 and cut[2]["process@2"] == 0.5
    assert cut[2]["outcome@1"] == 0.75 and cut[3]["process@1"] == 1.0
    assert context_by_op(tmp_path, "movies", [1]) == {}
    # An evaluation's per_problem.csv (what `interplay eval` writes beside the samples) gives the same cut.
    from interplay.evaluate.report import per_problem_table, write_csv

    write_csv(tmp_path / "per_problem.csv", per_problem_table(rows))
    (tmp_path / "samples.jsonl").write_text("")
    assert context_by_op(tmp_path, "school", [1, 2]) == cut


def test_a_report_regroups_an_evaluation_by_the_ranges_its_study_means(tmp_path):
    """The context study's evaluations ran with `interplay eval`'s default ranges (ID = op 2-10), which do not
    describe models pre-trained on op 2-6: the report recomputes the range rows from the samples."""
    from interplay.studies.report import pass_value, regroup
    from interplay.studies.study_reports import pretraining_ops

    rows = []
    # op 2: a solved in 1 of 2 samples, b in none; op 3: c in both; op 7: d in none, every sample missing a node
    for pid, op, flags in [("a", 2, [True, False]), ("b", 2, [False, False]), ("c", 3, [True, True]),
                           ("d", 7, [False, False])]:
        for j, ok in enumerate(flags):
            rows.append({"id": pid, "op": op, "context": "zoo", "mode": "forward", "sample_index": j,
                         "outcome_correct": ok, "process_correct": ok, "parse_ok": True,
                         "errors": {"missing": op == 7}})
    (tmp_path / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    ranges = {"ID": (2, 10), "OOD-edge": (11, 14)}
    stored = {"ks": [1, 2], "op_ranges": ranges, "settings": {"n": 2},
              "tables": {"pass_at_k": [], "errors": [], "lengths": ["kept"]}}
    mine = regroup(tmp_path, stored, {"ID": (2, 3), "OOD": (4, 7)})
    assert mine["op_ranges"] == {"ID": [2, 3], "OOD": [4, 7]} and mine["tables"]["lengths"] == ["kept"]
    assert pass_value(mine, "op_range", "ID", "process", 1) == pytest.approx(0.5)  # (0.5 + 0 + 1) / 3
    assert pass_value(mine, "op_range", "ID", "process", 2) == pytest.approx(2 / 3)
    assert pass_value(mine, "op_range", "OOD", "process", 2) == 0
    assert pass_value(mine, "op_range", "OOD-edge", "process", 1) is None
    missing = {r["key"]: r["missing"] for r in mine["tables"]["errors"] if r["group"] == "op_range"}
    assert missing == {"ID": 0, "OOD": 1}
    assert stored["op_ranges"] == ranges  # the evaluation's own results are left as they were
    # The ops a context corpus pre-trained on come from its manifest.
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    assert pretraining_ops(corpus) is None and pretraining_ops(None) is None
    counts = {"2": {"school": {"forward": 1}, "zoo": {"forward": 5}}, "6": {"zoo": {"forward": 5}},
              "3": {"zoo": {"forward": 5}}}
    (corpus / "manifest.json").write_text(json.dumps({"splits": {"pretrain": {"rows": 16, "counts": counts}}}))
    assert pretraining_ops(corpus) == (2, 6)


@pytest.mark.parametrize("preset", ["cpu", "demo"])
def test_the_summary_over_seeds_groups_the_context_study_as_each_seed_report_does(preset, tmp_path, monkeypatch):
    """Each context report regroups its evaluations by the ops the pre-training covered; the summary over
    seeds read the evaluations' own results.json instead (`interplay eval`'s default ID = op 2-10, or the
    preset's fixed ranges, e.g. demo's ID = op 2-3), so its range tables named the same ranges over other ops."""
    from interplay.studies import run as run_module
    from interplay.studies.document import Document
    from interplay.studies.seeds import run_seeds

    preset_file = preset_path("study", preset)  # cpu: ranges from the ladder (op_ranges: null); demo: fixed
    recipe = study_recipe("context", Preset.load(preset_file))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    counts = {"2": {"zoo": {"forward": 5}}, "3": {"zoo": {"forward": 5}}}
    (corpus / "manifest.json").write_text(json.dumps({"splits": {"pretrain": {"rows": 10, "counts": counts}}}))
    dirs = {f"corpus-b{recipe.extra['exposures'][0]}": corpus}
    # Every model solves op 2-3 always and op 7 never; the stored tables (default ranges) say ID = 0.5.
    rows = [{"id": f"p{op}", "op": op, "context": "zoo", "mode": "forward", "sample_index": j,
             "outcome_correct": op < 7, "process_correct": op < 7, "parse_ok": True, "errors": {}}
            for op in (2, 3, 7) for j in range(2)]
    stored = {"ks": [1, 2], "op_ranges": {"ID": [2, 10]}, "settings": {"n": 2},
              "tables": {"errors": [], "lengths": [],
                         "pass_at_k": [{"group": g, "key": key, "metric": m, "k": k, "pass_at_k": 0.5}
                                       for g, key in (("op_range", "ID"), ("op", 2), ("op", 3), ("op", 7))
                                       for m in ("process", "outcome") for k in (1, 2)]}}
    for stage in recipe.evals.values():
        (tmp_path / stage).mkdir()
        (tmp_path / stage / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (tmp_path / stage / "results.json").write_text(json.dumps(stored))
        dirs[stage] = tmp_path / stage
    monkeypatch.setattr(run_module, "run_study", lambda preset, recipe, out, cache: run_module.StudyRun(
        Document("one seed"), dirs))
    run_seeds(str(preset_file), "context", [0, 1], tmp_path / "out", tmp_path / "cache")
    summary = (tmp_path / "out" / "report.md").read_text()
    assert "| model | ID | OOD |" in summary, summary
    assert "1.000 ± 0.000 (1.000 / 1.000) | 0.000 ± 0.000 (0.000 / 0.000) |" in summary
    assert "0.500" not in summary


def test_the_rewards_findings_ask_about_hacking_among_right_answers_too():
    """A strict-reward model that reaches fewer right answers has a lower right-answer-wrong-process rate over
    all samples without hacking less: the share of its right answers with a wrong process says which."""
    from interplay.evaluate.report import error_table
    from interplay.studies.study_reports import rewards_checks

    def evaluation(right, hacked, total=10):  # `right` right answers, `hacked` of them by a wrong process
        rows = [{"op": 4, "outcome_correct": i < right, "process_correct": hacked <= i < right, "parse_ok": True,
                 "errors": {"dependency": i < hacked}} for i in range(total)]
        return {"tables": {"errors": error_table(rows, {"OOD-edge": (4, 4)})}}

    rows = rewards_checks({"RL strict": evaluation(right=2, hacked=1), "RL outcome": evaluation(right=8, hacked=2)})
    verdict = {claim.split("lower ")[1].split(" than")[0]: (measured, holds) for claim, measured, _, holds in rows}
    assert verdict["right-answer-wrong-process rate (of all samples)"] == ("0.100 vs 0.200", True)
    assert verdict["share of right answers with a wrong process"] == ("0.500 vs 0.250", False)
    assert verdict["dependency-mismatch rate"] == ("0.100 vs 0.200", True)
    # No right answer in an arm: the share is undefined, the row says n/a rather than comparing NaN.
    rows = rewards_checks({"RL strict": evaluation(right=0, hacked=0), "RL outcome": evaluation(right=8, hacked=2)})
    assert rows[2][1] is None and rows[2][3] is None
    assert rewards_checks({"RL outcome": evaluation(right=8, hacked=2)})[0][3] is None  # a missing arm


def test_rate_difference_pairs_the_error_rates_problem_by_problem():
    """strict minus outcome on each shared problem, then mean ± sd/sqrt(problems), worked by hand; the mean
    equals the difference of the pooled rates the error table reports when every problem has the same n."""
    from interplay.evaluate.report import error_table
    from interplay.studies.report import rate_difference
    from interplay.studies.study_reports import rewards_checks

    def rows(per_problem, op=4):  # problem id -> dependency flags of its samples
        return [{"id": pid, "op": op, "outcome_correct": True, "process_correct": not flag, "parse_ok": True,
                 "errors": {"dependency": flag}} for pid, flags in per_problem.items() for flag in flags]

    strict = rows({"p1": [1, 0, 0, 0], "p2": [0, 0, 0, 0], "p3": [1, 1, 0, 0]}) + rows({"x": [1, 1, 1, 1]}, op=9)
    outcome = rows({"p1": [1, 1, 0, 0], "p2": [1, 0, 0, 0], "p3": [1, 1, 1, 0], "p4": [1, 1, 1, 1]})
    # Shared problems at op 4-6: p1 -0.25, p2 -0.25, p3 -0.25 -> mean -0.25, sd 0 (p4 has no strict samples,
    # x is outside the range).
    diff, se, problems = rate_difference(strict, outcome, "dependency", (4, 6))
    assert (problems, diff, se) == (3, pytest.approx(-0.25), pytest.approx(0.0))
    outcome[0]["errors"]["dependency"], outcome[0]["process_correct"] = False, True  # diffs now 0, -0.25, -0.25
    diff, se, _ = rate_difference(strict, outcome, "dependency", (4, 6))
    # mean -1/6; squared deviations 1/36 + 2/144 = 1/24, over n - 1 = 2 and n = 3: 1/144, s.e. 1/12
    assert diff == pytest.approx(-1 / 6) and se == pytest.approx(1 / 12)
    # The same flag definition as the table: right answer with a wrong process (every dependency flag here).
    assert rate_difference(strict, outcome, "right_answer_wrong_process", (4, 6))[0] == pytest.approx(-1 / 6)
    assert rate_difference(strict, outcome, "dependency", (7, 8)) is None  # no shared problem
    pooled = {name: next(r["dependency"] for r in error_table(rows_, {"OOD-edge": (4, 6)})
                         if r["key"] == "OOD-edge") for name, rows_ in (("s", strict), ("o", outcome[:12]))}
    assert pooled["s"] - pooled["o"] == pytest.approx(diff)
    evals = {label: {"tables": {"errors": error_table(r, {"OOD-edge": (4, 6)})}}
             for label, r in (("RL strict", strict), ("RL outcome", outcome[:12]))}  # the same problems
    got = rewards_checks(evals, {"dependency": (diff, se, 3)})[0]
    assert got[1] == f"0.250 vs 0.417 ({100 * diff:+.1f} ± {100 * se:.1f} points, paired over 3 problems)", got
    assert got[3] is True


@pytest.mark.parametrize("preset", ["ci", "demo", "cpu", "paper"])
def test_every_training_stage_of_every_study_has_a_valid_config(preset):
    """A stage whose command cannot load its config fails only when the study reaches it, possibly after
    days of pre-training (the paper preset's mid-training once set train.steps on a config that gives
    train.tokens). Load each training stage's config with its overrides now (values that come from other
    stages' outputs, `{...}`, are left out)."""
    from interplay.lm.trainconfig import load_run_config
    from interplay.rl.config import load_rl_config

    loaded = 0
    for study in STUDIES:
        for stage in study_recipe(study, Preset.load(preset_path("study", preset))).stages:
            kind = stage.argv[0]
            if kind not in ("pretrain", "midtrain", "rl"):
                continue
            sets = [v for flag, v in zip(stage.argv, stage.argv[1:]) if flag == "--set" and "{" not in v]
            config = stage.argv[1]
            if kind == "rl":
                load_rl_config(config, sets)
            else:
                load_run_config(config, kind, sets)
            loaded += 1
    assert loaded >= 10


def test_context_rl_without_rl_ops_takes_every_op_of_the_rl_split():
    """The report then says 'RL ... over all ops'; the RL config's own op range (rl-tiny: op 2-3) must not apply."""
    from interplay.rl.config import load_rl_config

    preset = Preset.load(preset_path("study", "ci"), overrides=["context.rl_ops=null"])
    recipe = study_recipe("context", preset)
    assert recipe.extra["rl_ops"] is None
    for stage in (s for s in recipe.stages if s.name.startswith("rl-b")):
        sets = [v for flag, v in zip(stage.argv, stage.argv[1:]) if flag == "--set" and "{" not in v]
        assert load_rl_config(stage.argv[1], sets).data.ops is None
    assert load_rl_config(stage.argv[1], []).data.ops is not None  # the config alone would narrow it
    # RL mixes context A with the preset's context B, whichever it is.
    movies = study_recipe("context", Preset.load(preset_path("study", "ci"), overrides=["context.context_b=movies"]))
    rl = next(s for s in movies.stages if s.name.startswith("rl-b"))
    assert "data.contexts={zoo: 0.5, movies: 0.5}" in rl.argv


def test_plots_pair_the_base_and_rl_model_of_each_arm():
    """Eight lines in the context plot read as four pairs: one colour per exposure, RL dashed."""
    from interplay.studies.report import line_styles

    ctx = line_styles(["base 0%", "RL 0%", "base 1%", "RL 1%"])
    assert ctx["base 0%"]["color"] == ctx["RL 0%"]["color"] != ctx["base 1%"]["color"] == ctx["RL 1%"]["color"]
    assert [ctx[k]["linestyle"] for k in ("base 0%", "RL 0%", "base 1%", "RL 1%")] == ["-", "--", "-", "--"]
    arms = line_styles(["base", "RL id", "RL edge", "β = 0.2"])  # one model per arm: colours, all solid
    assert len({v["color"] for v in arms.values()}) == 4 and {v["linestyle"] for v in arms.values()} == {"-"}


def test_pretraining_exposure_counts_the_b_problems_a_base_model_read(tmp_path):
    from interplay.studies.study_reports import pretraining_exposure

    corpus, pretrain = tmp_path / "corpus-b1", tmp_path / "pretrain-b1"
    (pretrain / "data" / "train").mkdir(parents=True)
    corpus.mkdir()
    counts = {"2": {"school": {"forward": 150, "reverse": 150}, "zoo": {"forward": 2000, "reverse": 2000}},
              "3": {"zoo": {"forward": 2000, "reverse": 2000}}, "4": {"zoo": {"forward": 2000, "reverse": 1700}}}
    (corpus / "manifest.json").write_text(json.dumps({"splits": {"pretrain": {"rows": 12000, "counts": counts}}}))
    (pretrain / "data" / "train" / "meta.json").write_text(json.dumps({"documents": 12000, "tokens": 2_000_000}))
    assert pretraining_exposure(corpus, pretrain, "school") is None  # no training logged yet
    # the last logged token count, past a final evaluation row and a half-written line
    (pretrain / "metrics.jsonl").write_text('{"step": 10, "tokens": 200000}\n{"step": 20, "tokens": 500000}\n'
                                            '{"step": 20, "eval": {"all": 1.0}}\n{"step": 2')
    x = pretraining_exposure(corpus, pretrain, "school")
    assert x == {"b_problems": 300, "problems": 12000, "tokens_trained": 500000, "split_tokens": 2_000_000,
                 "b_seen": 75.0}
    assert pretraining_exposure(corpus, pretrain, "movies")["b_seen"] == 0
    assert pretraining_exposure(tmp_path / "nowhere", pretrain, "school") is None
    assert pretraining_exposure(None, None, "school") is None


def test_context_criteria_average_over_the_rl_ops(tmp_path):
    """The context checks average B's process pass@k over the ops RL trained on, so ops no model solves
    do not dilute a change; 0% must stay under 5 points, 0.1% must gain less than 5, >= 1% must rise by 20."""
    from interplay.studies.study_reports import context_checks, context_series

    def per_op(values):  # op -> process@8, ops 2..5
        return {op: {"process@8": v} for op, v in zip(range(2, 6), values, strict=True)}

    by_label = {"base 0%": per_op([0, 0, 0, 0]), "RL 0%": per_op([0.1, 0, 0, 0]),
                "base 0.1%": per_op([0, 0, 0, 0]), "RL 0.1%": per_op([0.5, 0.5, 0, 0]),
                "base 1%": per_op([0.2, 0.1, 0, 0]), "RL 1%": per_op([0.6, 0.3, 0, 0])}
    exposures = ["0", "0.1", "1"]
    rl_ops = context_series(by_label, exposures, 8, [2, 3])
    assert rl_ops["base pass@8"] == [0, 0, pytest.approx(0.15)] and rl_ops["RL pass@8"][2] == pytest.approx(0.45)
    checks = context_checks(rl_ops, exposures, 8, "mean over op 2-3")
    assert [(c[1], c[3]) for c in checks] == [("5.0", False), ("+50.0", False), ("+30.0", True)]
    assert "op 2-3" in checks[2][0] and checks[1][0].startswith("0.1% exposure: RL adds less than 5 points")
    # Over every op the same runs read half as large: 0% passes, 1% fails.
    everywhere = context_checks(context_series(by_label, exposures, 8, [2, 3, 4, 5]), exposures, 8, "mean over ops")
    assert [(c[1], c[3]) for c in everywhere] == [("2.5", True), ("+25.0", False), ("+15.0", False)]
    # with paired standard errors the changes show them; the rules do not move
    shown = context_checks(rl_ops, exposures, 8, "mean over op 2-3", [0.01, 0.02, 0.2])
    assert [(c[1], c[3]) for c in shown] == [("5.0", False), ("+50.0 ± 2.0", False), ("+30.0 ± 20.0", True)]
    # The errors come from the evaluations' per-problem counts of context B only, op by op.
    import csv
    from types import SimpleNamespace

    from interplay.studies.study_reports import context_errors

    def folder(name, rows):  # (op, context, c_process) with n = 4
        path = tmp_path / name
        path.mkdir()
        with open(path / "per_problem.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "op", "context", "mode", "n", "c_outcome", "c_process"])
            w.writerows([f"p{i}", op, ctx, "forward", 4, c, c] for i, (op, ctx, c) in enumerate(rows))
        return path

    base = folder("base", [(2, "zoo", 0), (2, "zoo", 0), (3, "zoo", 0), (3, "zoo", 0), (2, "school", 0)])
    rl = folder("rl", [(2, "zoo", 4), (2, "zoo", 0), (3, "zoo", 1), (3, "zoo", 1), (2, "school", 4)])
    runner = SimpleNamespace(dirs={"eval-base-b1": base, "eval-rl-b1": rl})
    recipe = SimpleNamespace(evals={"base 1%": "eval-base-b1", "RL 1%": "eval-rl-b1", "base 0%": "eval-base-b0",
                                    "RL 0%": "eval-rl-b0"})
    # pass@1 differences: op 2 (1, 0): s.e. 0.5; op 3 (.25, .25): s.e. 0 -> sqrt(0.25 + 0) / 2; 0%: not run
    assert context_errors(runner, recipe, ["1", "0"], "zoo", 1, [2, 3]) == [pytest.approx(0.25), None]
    # The recipe hands the preset's rl_ops to the report, and refuses a malformed one before anything runs.
    preset = Preset.load(preset_path("study", "cpu"))
    assert study_recipe("context", preset).extra["rl_ops"] == [2, 6]
    preset.context["rl_ops"] = [6, 2]
    with pytest.raises(UserError, match="context.rl_ops must be"):
        study_recipe("context", preset)


def test_range_tables_leave_out_ranges_without_problems(tmp_path):
    from interplay.studies.document import Document
    from interplay.studies.report import add_model_section, evaluated_ranges, range_table

    def result(keys):
        rows = [{"group": "op_range", "key": k, "metric": m, "k": k_, "pass_at_k": 0.5}
                for k in keys for m in ("process", "outcome") for k_ in (1, 4)]
        return {"ks": [1, 4], "op_ranges": {"ID": [2, 10], "OOD-edge": [11, 14], "OOD-hard": [15, 20]},
                "settings": {"n": 4, "temperature": 0.7},
                "tables": {"pass_at_k": rows, "errors": [{"group": "op_range", "key": k, "samples": 8} for k in keys]}}

    evals = {"base": result(["ID"]), "RL": result(["ID", "OOD-hard"])}
    assert evaluated_ranges(evals) == ["ID", "OOD-hard"]
    header, rows = range_table(evals, "process")
    assert header == ["model", "ID pass@1", "ID pass@4", "OOD-hard pass@1", "OOD-hard pass@4"]
    assert rows[0] == ["base", 0.5, 0.5, None, None]
    doc = Document("t")
    add_model_section(doc, evals, tmp_path, "t")
    text = doc.markdown()
    assert "Op ranges: ID = op 2–10, OOD-hard = op 15–20." in text
    assert "Error taxonomy on OOD-hard" in text and "OOD-edge" not in text


def test_an_edited_config_file_is_a_new_stage(tmp_path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("a: 1\n")
    stages = [Stage("pretrain", ["pretrain", str(cfg), "--out", "{out}"])]
    calls = []
    first = StageRunner(tmp_path / "cache", echo=lambda s: None, execute=_fake_commands(calls))
    first.run(stages)
    StageRunner(tmp_path / "cache", echo=lambda s: None, execute=_fake_commands(calls)).run(stages)
    assert len(calls) == 1  # unchanged: reused
    cfg.write_text("a: 2\n")
    second = StageRunner(tmp_path / "cache", echo=lambda s: None, execute=_fake_commands(calls))
    second.run(stages)
    assert len(calls) == 2 and second.dirs["pretrain"] != first.dirs["pretrain"]


def _results(values: dict) -> dict:
    """A results.json with process pass@k per op range: values = {range: (pass@1, pass@8)}."""
    rows = [{"group": "op_range", "key": r, "metric": "process", "k": k, "pass_at_k": v, "problems": 10}
            for r, (p1, p8) in values.items() for k, v in ((1, p1), (8, p8))]
    return {"ks": [1, 8], "op_ranges": {r: [2, 3] for r in values}, "tables": {"pass_at_k": rows, "errors": []}}


def test_findings_are_checked_by_rule_not_by_hand():
    from interplay.studies.document import Document
    from interplay.studies.report import change as _delta
    from interplay.studies.study_reports import _checks

    evals = {"base": _results({"ID": (0.5, 0.90), "OOD-edge": (0.05, 0.30)}),
             "RL edge": _results({"ID": (0.5, 0.88), "OOD-edge": (0.10, 0.45)}),
             "RL id": _results({"ID": (0.7, 0.95), "OOD-edge": (0.05, 0.30)})}
    assert _delta(evals, "RL edge", "OOD-edge", 8) == pytest.approx(0.15)
    assert _delta(evals, "RL id", "ID", 8) == pytest.approx(0.05)
    assert _delta(evals, "RL hard", "ID", 8) is None
    doc = Document("t")
    _checks(doc, [("edge", "+15.0", ">= +10.0", True), ("id", "+5.0", "|Δ| < 3.0", False), ("gone", None, "x", None)])
    text = doc.markdown()
    assert "| edge | +15.0 | >= +10.0 | yes |" in text
    assert "| id | +5.0 | \\|Δ\\| < 3.0 | no |" in text  # a | inside a cell is escaped
    assert "| gone |" in text and "| n/a |" in text
    # Figure 3's four rules on these numbers (no hard arm here: its row is n/a).
    from interplay.studies.study_reports import extrapolation_checks

    rows = {claim.split(" process")[0]: (measured, holds) for claim, measured, _, holds in extrapolation_checks(evals)}
    assert rows["RL on the edge range raises OOD-edge"] == ("+15.0", True)
    assert rows["RL on the ID range moves ID"] == ("+5.0", False)
    assert rows["RL on the ID range sharpens ID"] == ("+20.0", True)
    assert rows["RL on the hard range moves OOD-hard"] == (None, None)
    evals["RL hard"] = _results({"ID": (0.5, 0.9), "OOD-edge": (0.05, 0.3), "OOD-hard": (0.0, 0.01)})
    evals["base"] = _results({"ID": (0.5, 0.9), "OOD-edge": (0.05, 0.3), "OOD-hard": (0.0, 0.0)})
    hard = extrapolation_checks(evals)[3]
    assert hard[1:] == ("+1.0", "|Δ| < 3.0", True)


def test_changes_carry_paired_standard_errors_and_sharpening_must_clear_them(tmp_path):
    """Each arm's change against the base shows its paired standard error (per-problem differences on the
    same problems), and "RL on ID sharpens ID pass@1" needs a gain above twice it."""
    import csv

    from interplay.studies.report import paired_errors
    from interplay.studies.study_reports import extrapolation_checks

    def folder(name, c_process):  # four ID problems (op 2-3) with 4 samples each
        path = tmp_path / name
        path.mkdir()
        with open(path / "per_problem.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "op", "context", "mode", "n", "c_outcome", "c_process"])
            for i, c in enumerate(c_process):
                w.writerow([f"p{i}", 2 + i % 2, "school", "forward", 4, c, c])
        return path

    from interplay.studies.report import problem_counts

    dirs = {"base": folder("base", [0, 2, 3, 1]), "RL id": folder("id", [1, 3, 4, 2])}
    evals = {"base": _results({"ID": (0.375, 0.75)}), "RL id": _results({"ID": (0.625, 1.0)})}
    errors = paired_errors({label: problem_counts(d) for label, d in dirs.items()}, evals)
    # an evaluation folder without per_problem.csv is counted from its samples
    old = tmp_path / "old"
    old.mkdir()
    (old / "samples.jsonl").write_text("".join(
        json.dumps({"id": p.id, "op": p.op, "context": p.context, "mode": p.mode, "outcome_correct": i < p.c_outcome,
                    "process_correct": i < p.c_process}) + "\n"
        for p in problem_counts(dirs["base"]) for i in range(p.n)))
    assert problem_counts(old) == problem_counts(dirs["base"])
    assert errors[("RL id", "ID", 1)] == 0.0  # every problem gained exactly one sample in four
    # pass@8 with n = 4 is pass@4: 0/1/1/1 -> 1/1/1/1, differences 1, 0, 0, 0 (variance 1/4): s.e. 1/4
    assert errors[("RL id", "ID", 8)] == pytest.approx(0.25)
    rows = extrapolation_checks(evals, errors)
    assert rows[2][1:] == ("+25.0 ± 0.0", "> 2 s.e.", True)
    assert rows[1][1:] == ("+25.0 ± 25.0", "|Δ| < 3.0", False)
    # the same +25.0 inside a wide noise band does not count as sharpening
    assert extrapolation_checks(evals, {("RL id", "ID", 1): 0.15})[2][1:] == ("+25.0 ± 15.0", "> 2 s.e.", False)


def test_allocation_claims_compare_the_share_groups():
    from interplay.studies.study_reports import _share_wins

    plans = [{"rl_share": b} for b in (0, 0.2, 0.5, 0.8, 1)]
    light = lambda beta: 0 < beta <= 0.5  # noqa: E731
    edge = [0.05, 0.09, 0.07, 0.02, 0.01]  # OOD-edge pass@1 per arm
    evals = {f"β = {b:g}": _results({"OOD-edge": (v, 0.5)}) for b, v in zip((0, 0.2, 0.5, 0.8, 1), edge)}
    assert _share_wins(evals, plans, "OOD-edge", 1, light) == ("best β = 0.2 (0.090)", True)
    # With per-problem counts the lead over the best arm outside the group (β = 0) must clear 2 s.e.
    from interplay.verify.passk import ProblemCounts

    def counts(cs):  # four problems at op 2, 10 samples each
        return [ProblemCounts(f"p{i}", 2, "school", "forward", 10, c, c) for i, c in enumerate(cs)]

    noisy = {f"β = {b:g}": counts([0, 0, 0, 0]) for b in (0.5, 0.8, 1)}
    noisy |= {"β = 0.2": counts([4, 0, 0, 0]), "β = 0": counts([0, 0, 1, 1])}  # +0.05, differences .4 0 -.1 -.1
    assert _share_wins(evals, plans, "OOD-edge", 1, light, noisy) == (
        "best β = 0.2 (0.090); +5.0 ± 11.9 points over β = 0 (the closest of 3 arms outside)", False)
    steady = noisy | {"β = 0.2": counts([1, 1, 2, 2])}  # +0.1 on every problem against β = 0: s.e. 0
    # Every arm outside the group is paired: against the all-zero arms the lead is +15.0 ± 2.9 (differences
    # .1 .1 .2 .2), a smaller margin beyond 2 s.e. (9.2 points) than against β = 0 (10.0), so that is the
    # closest call named; both clear, so the group wins.
    assert _share_wins(evals, plans, "OOD-edge", 1, light, steady) == (
        "best β = 0.2 (0.090); +15.0 ± 2.9 points over β = 0.8 (the closest of 3 arms outside)", True)
    # A lower arm outside the group can still block the win when its difference is noisy: β = 0.8 has a mean
    # below β = 0's but solves one problem the best arm rarely does.
    means = {0: 0.2, 0.2: 0.3, 0.5: 0.0, 0.8: 0.175, 1: 0.0}
    consistent = {f"β = {b:g}": _results({"OOD-edge": (v, 0.5)}) for b, v in means.items()}
    blocked = {"β = 0": counts([2, 2, 2, 2]), "β = 0.2": counts([3, 3, 3, 3]), "β = 0.5": counts([0, 0, 0, 0]),
               "β = 0.8": counts([0, 0, 0, 7]), "β = 1": counts([0, 0, 0, 0])}
    assert _share_wins(consistent, plans, "OOD-edge", 1, light, blocked) == (
        "best β = 0.2 (0.300); +12.5 ± 17.5 points over β = 0.8 (the closest of 3 arms outside)", False)
    blocked["β = 0.8"] = counts([1, 1, 2, 3])  # the same mean, a steadier difference (.2 .2 .1 0): a win
    assert _share_wins(consistent, plans, "OOD-edge", 1, light, blocked) == (
        "best β = 0.2 (0.300); +12.5 ± 4.8 points over β = 0.8 (the closest of 3 arms outside)", True)
    evals["β = 0"] = _results({"OOD-edge": (0.09, 0.5)})  # a tie with a pure arm is not a win
    assert _share_wins(evals, plans, "OOD-edge", 1, light) == ("best β = 0, 0.2 (0.090)", False)
    evals["β = 0"] = _results({"OOD-edge": (0.30, 0.5)})
    assert _share_wins(evals, plans, "OOD-edge", 1, light) == ("best β = 0 (0.300)", False)
    zero = {f"β = {b:g}": _results({"OOD-edge": (0.0, 0.0)}) for b in (0, 0.2, 0.5, 0.8, 1)}
    assert _share_wins(zero, plans, "OOD-edge", 1, light) == ("every arm 0.000", None)
    del evals["β = 1"]
    assert _share_wins(evals, plans, "OOD-edge", 1, light) == (None, None)


def test_seed_lists_parse_or_fail_clearly():
    from interplay.studies.seeds import parse_seeds

    assert parse_seeds("0,1,2") == [0, 1, 2] and parse_seeds("3-5") == [3, 4, 5] and parse_seeds("4, 7") == [4, 7]
    for bad in ("1", "1,1", "a,b", "-1,2", "5-3", ""):
        with pytest.raises(UserError, match="--seeds"):
            parse_seeds(bad)


def test_seed_summary_gives_mean_spread_and_verdicts_per_seed():
    from interplay.studies.seeds import seed_summary

    runs = {
        0: ({"base": _results({"ID": (0.5, 0.9)}), "RL edge": _results({"ID": (0.1, 0.3)})},
            [("claim A", "+1.0", ">= 0", True), ("claim B", None, "x", None)]),
        1: ({"base": _results({"ID": (0.7, 0.9)}), "RL edge": _results({"ID": (0.2, 0.5)})},
            [("claim A", "-1.0", ">= 0", False), ("claim B", "0.5", "x", True)]),
    }
    text = seed_summary("extrapolation", "demo", runs).markdown()
    assert "seeds 0, 1" in text and "[seed 1](seed-1/report.md)" in text
    # process pass@1 on ID: base 0.5 and 0.7 -> mean 0.600, sample sd 0.141
    assert "| base | 0.600 ± 0.141 (0.500 / 0.700) |" in text
    assert "| RL edge | 0.400 ± 0.141 (0.300 / 0.500) |" in text  # pass@8
    assert "| claim A | yes | no | 1 of 2 |" in text and "| claim B | n/a | yes | 1 of 2 |" in text
    assert "op ranges differ" not in text
    # Each seed's ladder on its own base model may pick other ops for a range: the summary says which.
    for label in runs[1][0]:
        runs[1][0][label]["op_ranges"] = {"ID": [2, 4]}
    differ = seed_summary("extrapolation", "demo", runs).markdown()
    assert "op ranges differ" in differ and "seed 0: ID = op 2-3; seed 1: ID = op 2-4." in differ
    for label in runs[1][0]:
        runs[1][0][label]["op_ranges"] = {"ID": [2, 3]}
    # the context study's figure: context B by op, over the seeds
    b = {0: {"base": {2: {"process@8": 0.2, "process@1": 0.1}}, "RL edge": {2: {"process@8": 0.4, "process@1": 0.2}}},
         1: {"base": {2: {"process@8": 0.4, "process@1": 0.1}}, "RL edge": {2: {"process@8": 0.4, "process@1": 0.3}}}}
    text_b = seed_summary("context", "demo", runs, b).markdown()
    assert "## process pass@8 on context B by op" in text_b
    assert "| base | 0.300 ± 0.141 (0.200 / 0.400) |" in text_b and "| RL edge | 0.250 ± 0.071 (0.200 / 0.300) |" in text_b
    # a model missing in one seed gives no number rather than a mean over fewer seeds
    del runs[1][0]["RL edge"]
    assert "| RL edge | – |" in seed_summary("extrapolation", "demo", runs).markdown()


def test_study_all_runs_the_four_in_order_and_goes_on_after_a_failure(tmp_path, monkeypatch, capsys):
    from interplay.cli import main
    from interplay.studies import run as run_module

    calls = []

    def fake_run_study(preset, recipe, out, cache):
        calls.append((recipe.study, out, cache))
        if recipe.study == "extrapolation":
            raise UserError("the ladder found no ID range")

    monkeypatch.setattr(run_module, "run_study", fake_run_study)
    assert main(["study", "all", "--preset", "ci", "--out", str(tmp_path / "s")]) == 1
    assert [c[0] for c in calls] == ["extrapolation", "rewards", "allocation", "context"]
    assert {c[1] for c in calls} == {tmp_path / "s" / name for name in ("extrapolation", "rewards", "allocation", "context")}
    assert {c[2] for c in calls} == {(tmp_path / "s" / "cache-ci").resolve()}
    err = capsys.readouterr().err
    assert "study extrapolation stopped: the ladder found no ID range" in err and "did not finish: extrapolation" in err

    calls.clear()
    assert main(["study", "all", "--preset", "ci", "--out", str(tmp_path / "s"), "--dry-run"]) == 0
    assert calls == [] and capsys.readouterr().out.count("# study ") == 4


def test_study_set_replaces_preset_fields_and_keeps_the_other_stages(capsys, monkeypatch):
    from interplay.cli import main
    from interplay.studies import seeds as seeds_module

    path = preset_path("study", "cpu")
    base = study_recipe("extrapolation", Preset.load(path))
    lr = study_recipe("extrapolation", Preset.load(path, overrides=["rl_set=[log.tensorboard=false, optim.lr=1.0e-5]",
                                                                     "eval.n=16"]))
    before = {s.name: s.argv for s in base.stages}
    after = {s.name: s.argv for s in lr.stages}
    assert before.keys() == after.keys()
    for name in before:
        if name.startswith("rl-"):
            assert after[name] == before[name] + ["--set", "optim.lr=1.0e-5"]
        elif name.startswith("eval"):
            assert after[name][after[name].index("--n") + 1] == "16" != before[name][before[name].index("--n") + 1]
        else:  # corpus, tokenizer, pre-training, problems, ladder: the same commands, so the same cached stages
            assert after[name] == before[name], name
    # From the command line: the plan shows it, and the preset's source names the overrides.
    assert main(["study", "rewards", "--preset", "cpu", "--out", "x", "--dry-run", "--set", "rl_set=[optim.lr=2e-5]"]) == 0
    out = capsys.readouterr().out
    assert "--set optim.lr=2e-5" in out and "--set rl_set=[optim.lr=2e-5]" in out.splitlines()[0]
    # A key the preset does not have, or no `=`: a one-line error, exit status 2.
    assert main(["study", "rewards", "--preset", "cpu", "--out", "x", "--dry-run", "--set", "rl_sett=[a=1]"]) == 2
    assert "unknown field(s) rl_sett" in capsys.readouterr().err
    # ... inside a section too: a misspelt context or allocation key would silently fall back to its default.
    assert main(["study", "context", "--preset", "cpu", "--out", "x", "--dry-run", "--set", "context.rl_opz=[2,3]"]) == 2
    assert "unknown context field(s) rl_opz" in capsys.readouterr().err
    assert main(["study", "allocation", "--preset", "cpu", "--out", "x", "--dry-run", "--set", "allocation.share=[0,1]"]) == 2
    assert "unknown allocation field(s) share" in capsys.readouterr().err
    assert main(["study", "rewards", "--preset", "cpu", "--out", "x", "--dry-run", "--set", "eval.n"]) == 2
    assert "expected key=value" in capsys.readouterr().err
    assert main(["study", "rewards", "--preset", "cpu", "--out", "x", "--dry-run", "--set", "name.x=1"]) == 2
    assert "name is not a section" in capsys.readouterr().err
    # --seeds passes them on to every seed's preset.
    seen = []
    monkeypatch.setattr(seeds_module, "run_seeds", lambda *a, **kw: seen.append(kw["overrides"]))
    assert main(["study", "rewards", "--preset", "cpu", "--out", "x", "--seeds", "0,1", "--set", "eval.n=8"]) == 0
    assert seen == [["eval.n=8"]]


def test_range_table_cells_carry_the_standard_error_when_the_evaluation_recorded_it():
    from interplay.studies.report import range_table

    def results(se):
        rows = [{"group": "op_range", "key": "ID", "metric": "process", "k": k, "pass_at_k": v, "problems": 30,
                 **({} if se is False else {"se": se})} for k, v in ((1, 0.25), (4, 0.5))]
        return {"ks": [1, 4], "tables": {"pass_at_k": rows}, "op_ranges": {"ID": [2, 3]}}

    header, rows = range_table({"new": results(0.0421), "old": results(False), "one problem": results(None)}, "process")
    assert header == ["model", "ID pass@1", "ID pass@4"]
    assert rows[0] == ["new", "0.250 ± 0.042", "0.500 ± 0.042"]
    assert rows[1] == ["old", 0.25, 0.5]  # results.json from before the se column
    assert rows[2] == ["one problem", 0.25, 0.5]  # a range of one problem has no standard error


def test_code_version_names_the_commit_and_uncommitted_source_changes(tmp_path):
    import subprocess

    from interplay import __version__
    from interplay.provenance import code_version

    assert code_version(tmp_path) == f"interplay {__version__}"  # not a git checkout: the version alone
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "m.py").write_text("x = 1\n")
    (repo / "notes.md").write_text("a\n")

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "one")
    sha = git("rev-parse", "--short=12", "HEAD")
    assert code_version(repo) == f"interplay {__version__} (git {sha})"
    (repo / "notes.md").write_text("b\n")  # outside src/: not code
    (repo / "src" / "new.py").write_text("")  # untracked: not part of the package's tracked code
    code_version.cache_clear()
    assert code_version(repo) == f"interplay {__version__} (git {sha})"
    (repo / "src" / "m.py").write_text("x = 2\n")
    code_version.cache_clear()
    assert code_version(repo) == f"interplay {__version__} (git {sha} + uncommitted changes)"
    code_version.cache_clear()


def test_a_stage_records_the_code_that_made_it_and_a_reuse_by_other_code_says_so(tmp_path, monkeypatch):
    from interplay.studies import stages as stages_module
    from interplay.studies.report import stage_table

    stages = [Stage("pretrain", ["pretrain", "p.yaml", "--out", "{out}"])]

    def finishing(argv):
        Path(argv[argv.index("--out") + 1]).mkdir(parents=True, exist_ok=True)
        return 0

    monkeypatch.setattr(stages_module, "code_version", lambda: "interplay 0.1.0 (git aaaa)")
    record = StageRunner(tmp_path, echo=lambda s: None, execute=finishing).run(stages)["pretrain"]
    assert record["code"] == "interplay 0.1.0 (git aaaa)"
    header, rows = stage_table({"pretrain": record, "older": {"wall_s": 1}})
    assert header[-1] == "code" and rows[0][-1] == "interplay 0.1.0 (git aaaa)" and rows[1][-1] == "?"
    said = []
    StageRunner(tmp_path, echo=said.append, execute=finishing).run(stages)
    assert "done earlier" in said[0] and "made by" not in said[0]  # the same code: nothing to say
    monkeypatch.setattr(stages_module, "code_version", lambda: "interplay 0.1.0 (git bbbb)")
    said = []
    runner = StageRunner(tmp_path, echo=said.append, execute=finishing)
    runner.run(stages)
    assert "made by interplay 0.1.0 (git aaaa), this is interplay 0.1.0 (git bbbb)" in said[0], said
    assert runner.records["pretrain"]["code"] == "interplay 0.1.0 (git aaaa)"  # reused, not remade


def test_the_rewards_summary_over_seeds_gives_the_rates_its_findings_compare():
    from interplay.studies.seeds import seed_summary

    def arm(dependency, hacked_of_correct):
        res = _results({"OOD-edge": (0.1, 0.4)})
        res["tables"]["errors"] = [{"group": "op_range", "key": "OOD-edge", "dependency": dependency,
                                    "right_answer_wrong_process": 0.2,
                                    "right_answer_wrong_process_of_correct": hacked_of_correct}]
        return res

    runs = {0: ({"RL outcome": arm(0.8, 0.5), "RL strict": arm(0.6, float("nan"))}, []),
            1: ({"RL outcome": arm(0.7, 0.25), "RL strict": arm(0.7, 0.5)}, [])}
    text = seed_summary("rewards", "demo", runs).markdown()
    assert "## Dependency-mismatch rate by op range" in text
    assert "| RL outcome | 0.750 ± 0.071 (0.800 / 0.700) |" in text
    assert "| RL strict | 0.650 ± 0.071 (0.600 / 0.700) |" in text
    # a share that is undefined in one seed (no right answer) gives no number, not a NaN mean
    share = text.split("## Share of right answers with a wrong process by op range")[1]
    assert "| RL outcome | 0.375 ± 0.177 (0.500 / 0.250) |" in share and "| RL strict | – |" in share
    assert "Dependency-mismatch" not in seed_summary("extrapolation", "demo", runs).markdown()
