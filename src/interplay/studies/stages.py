"""Stage graphs: a study or the demo is a list of `interplay` commands with cached, resumable outputs.

A stage is one `interplay` command line (an argv template). Templates may name other stages:

    {out}                  this stage's own folder
    {dir:NAME}             stage NAME's folder
    {final:NAME}           NAME's final checkpoint (NAME/final)
    {ranges:NAME}          the op ranges a ladder stage NAME wrote ("ID=2-4,OOD-edge=5-6,OOD-hard=7-8")
    {arm:NAME:ARM}         the RL op range ARM (id, mixed, edge, hard) derived from ladder NAME, as "[lo, hi]"

so the graph is fixed before anything runs while values that depend on a model (the ladder's ranges)
are resolved when the stage starts. Why argv and not Python calls: the commands already validate
their configs, show progress, and resume themselves after an interruption; the stage runner only
adds "this exact command already finished" on top (a marker file holding the resolved command).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from interplay import locks
from interplay.errors import UserError
from interplay.provenance import code_version

MARKER = ".interplay-stage.json"
LOCKS = ".locks"  # in the cache: one lock file per stage folder, held while a study runs that stage
_PLACEHOLDER = re.compile(r"\{(out|dir|final|ranges|arm)(?::([A-Za-z0-9_.\-]+))?(?::([A-Za-z0-9_\-]+))?\}")
COMMAND_KINDS = ("problems", "corpus", "tokenizer", "pretrain", "midtrain", "rl", "eval", "ladder")
# Earlier stage identities, newest first, still looked up so their stages are reused: "all-fields" (until
# 2026-11-30 16:10 UTC: a training command's neutral settings counted too), "bytes" (before that: each config
# file hashed byte for byte, so a new comment was a new stage).
LEGACY_KEYS = ("all-fields", "bytes")


@dataclass
class Stage:
    name: str
    argv: list[str]
    title: str = ""
    # Stage folders are shared between studies (one base model for all arms and all studies on a preset):
    # the folder name carries a hash of the resolved command, so equal commands land in one folder.
    shared: bool = True
    deps: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        found: list[str] = []
        for arg in self.argv:
            for m in _PLACEHOLDER.finditer(arg):
                if m.group(1) != "out" and m.group(2) not in found:
                    found.append(m.group(2))
        self.deps = found

    @property
    def kind(self) -> str:
        return self.argv[0]


def check_graph(stages: list[Stage]) -> None:
    """Names unique, commands known, dependencies declared earlier (so the list order is a topological order)."""
    seen: set[str] = set()
    for stage in stages:
        if stage.name in seen:
            raise UserError(f"stage graph: stage name {stage.name!r} is used twice")
        if stage.kind not in COMMAND_KINDS:
            raise UserError(f"stage {stage.name}: unknown command {stage.kind!r}")
        for dep in stage.deps:
            if dep not in seen:
                raise UserError(f"stage {stage.name}: depends on {dep!r}, which is not an earlier stage")
        seen.add(stage.name)


def arm_ranges(ranges: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """The paper's four RL op ranges, placed on a ladder: with ID 2-10, edge 11-14, hard 15-20 they are
    id 7-10, mixed 9-12, edge 11-14, hard 17-20 (the paper's arms); smaller ladders shift them down.
    """
    id_lo, id_hi = ranges["ID"]
    e_lo, e_hi = ranges["OOD-edge"]
    h_lo, h_hi = ranges["OOD-hard"]
    return {
        "id": (max(id_lo, id_hi - 3), id_hi),
        "mixed": (max(id_lo, id_hi - 1), min(e_hi, e_lo + 1)),
        "edge": (e_lo, e_hi),
        "hard": (max(h_lo, h_hi - 3), h_hi),
    }


def read_ladder(folder: Path) -> dict[str, tuple[int, int]]:
    import yaml

    path = folder / "ladder.yaml"
    if not path.is_file():
        raise UserError(f"ladder stage {folder} has no ladder.yaml")
    data = yaml.safe_load(path.read_text())
    ranges = data.get("op_ranges") or {}
    out: dict[str, tuple[int, int]] = {}
    for key in ("ID", "OOD-edge", "OOD-hard"):
        if not ranges.get(key):
            raise UserError(
                f"the ladder in {path} found no {key} range (see its notes); set the study's op ranges in "
                "its preset YAML (`op_ranges:`) instead"
            )
        lo, hi = ranges[key]
        out[key] = (int(lo), int(hi))
    return out


class StageRunner:
    """Runs stages in order, skipping those whose marker holds the same resolved command."""

    def __init__(self, root: str | Path, *, hashed_dirs: bool = True, echo: Callable[[str], None] = print,
                 execute: Callable[[list[str]], int] | None = None, launcher: str = "interplay") -> None:
        # Absolute, because stage commands (and so their hashes) hold folder paths: `--cache runs/c` and
        # `--cache /abs/runs/c` must name the same stages.
        self.root = Path(root).resolve()
        self.hashed_dirs = hashed_dirs
        code_version()  # read now, with the code this process loads, not after an edit hours into a study
        self.echo = echo
        self.launcher = launcher
        self.execute = execute or self._execute
        self.dirs: dict[str, Path] = {}
        self.records: dict[str, dict[str, Any]] = {}

    # -- resolution --------------------------------------------------------------------------------

    def _substitute(self, arg: str, own: str) -> str:
        def repl(m: re.Match[str]) -> str:
            what, name, extra = m.group(1), m.group(2), m.group(3)
            if what == "out":
                return own
            folder = self.dirs[name]
            if what == "dir":
                return str(folder)
            if what == "final":
                return str(folder / "final")
            ranges = read_ladder(folder)
            if what == "ranges":
                return ",".join(f"{k}={lo}-{hi}" for k, (lo, hi) in ranges.items())
            lo, hi = arm_ranges(ranges)[extra]
            return f"[{lo}, {hi}]"

        return _PLACEHOLDER.sub(repl, arg)

    def resolve(self, stage: Stage) -> tuple[list[str], Path]:
        marker_out = "{out}"
        argv = [self._substitute(a, marker_out) for a in stage.argv]
        folder = self.root / stage.name
        if self.hashed_dirs and stage.shared:
            # The folder is named by the command as it reads anywhere: the cache's own path written
            # <cache> and configs by file name (their contents are hashed), so a moved cache or checkout
            # still finds its stages.
            folder = self.root / f"{stage.name}-{_digest(self.identity(argv, None))}"
            for legacy in LEGACY_KEYS:
                if folder.exists():
                    break
                # Stages named by an earlier identity (see LEGACY_KEYS): keep using them.
                old = self.root / f"{stage.name}-{_digest(self.identity(argv, None, legacy=legacy))}"
                folder = old if old.exists() else folder
            if not folder.exists():
                # Stages made before 2026-11-30 are named by the command with the cache's path as it was
                # then written (absolute, or relative to the working directory): keep using them.
                for spelling in self._spellings():
                    old_argv = [self._respell(a, spelling) for a in argv]
                    old = self.root / f"{stage.name}-{_digest([old_argv, _config_digests(old_argv)])}"
                    if old.exists():
                        folder = old
                        break
        return [a.replace(marker_out, str(folder)) for a in argv], folder

    # -- what identifies a command ----------------------------------------------------------------------

    def _respell(self, arg: str, spelling: str) -> str:
        root = str(self.root)
        return spelling if arg == root else arg.replace(root + os.sep, spelling + os.sep)

    def _spellings(self) -> list[str]:
        """How earlier versions may have written this cache's path in stage commands."""
        out = [str(self.root)]
        try:
            rel = os.path.relpath(self.root)
        except ValueError:  # another drive (Windows)
            rel = out[0]
        return out + ([rel] if rel not in out else [])

    def identity(self, argv: list[str], folder: Path | None, *, legacy: str | None = None) -> dict[str, Any]:
        """The command with the cache's path as <cache> and each YAML config as <config>/NAME plus a hash
        of what it says (`config_meaning`): equal wherever the cache and the configs live, and however the
        configs are commented or laid out. A training command's settings that change nothing it computes
        (`neutral`: logging, checkpoint cadence, threads, compile) are left out, in its --set overrides and
        in its config, so changing them keeps the stage. Files inside the stage's own folder are outputs,
        not configs. `legacy`: an earlier identity (LEGACY_KEYS), to find stages made with it."""
        own = None if folder is None else str(folder) + os.sep
        portable: list[str] = []
        configs: dict[str, str] = {}
        args = iter(argv)
        for arg in args:
            if arg == "--set" and legacy is None:
                item = next(args, "")
                if not neutral(argv[0], item.partition("=")[0]):
                    portable += [arg, self._respell(item, "<cache>")]
            elif arg.endswith((".yaml", ".yml")) and os.path.isfile(arg) and not (own and arg.startswith(own)):
                name = "<config>/" + os.path.basename(arg)
                configs[name] = (_file_digest(Path(arg)) if legacy == "bytes"
                                 else config_meaning(Path(arg), argv, all_fields=legacy is not None))
                portable.append(name)
            else:
                portable.append(self._respell(arg, "<cache>"))
        return {"argv": portable, "configs": configs}

    def _finished(self, previous: dict[str, Any] | None, key: dict[str, Any], argv: list[str], folder: Path) -> bool:
        """Whether `previous` (a stage marker) records this very command (`key` = its identity) as finished."""
        if previous is None:
            return False
        if "key" in previous:
            return previous["key"] == key or any(previous["key"] == self.identity(argv, folder, legacy=legacy)
                                                 for legacy in LEGACY_KEYS)
        # A marker from before 2026-11-30: the command as then written, cache path and all.
        for spelling in self._spellings():
            old_argv = [self._respell(a, spelling) for a in argv]
            old_folder = self._respell(str(folder), spelling)
            configs = _config_digests([a for a in old_argv if not a.startswith(old_folder)])
            if previous.get("argv") == old_argv and previous.get("configs", {}) == configs:
                return True
        return False

    # -- where a run stands -------------------------------------------------------------------------

    def status(self, stages: list[Stage]) -> list[dict[str, Any]]:
        """Each stage's state in this cache, without running anything: `done` (its marker holds this
        command), `partial` (started or interrupted: what it has so far, and who runs it now if anyone), `to run`,
        or `waits` (its command needs the output of a stage not done yet, e.g. a ladder's ranges)."""
        check_graph(stages)
        rows: list[dict[str, Any]] = []
        done: set[str] = set()
        for stage in stages:
            row: dict[str, Any] = {"stage": stage.name, "title": stage.title}
            # A dependency with no folder yet waits itself; one not done may hold no ladder.yaml to read.
            waiting = [d for d in stage.deps if d not in self.dirs]
            if not waiting:
                try:
                    argv, folder = self.resolve(stage)
                except UserError:
                    waiting = [d for d in stage.deps if d not in done]
            if waiting:
                rows.append(row | {"state": "waits", "detail": f"for {', '.join(waiting)}"})
                continue
            self.dirs[stage.name] = folder
            previous = _read_marker(folder / MARKER)
            key = self.identity(argv, folder)
            if self._finished(previous, key, argv, folder):
                done.add(stage.name)
                rows.append(row | {"state": "done", "detail": f"{previous.get('wall_s', 0):,.0f} s wall",
                                   "folder": str(folder)})
                continue
            clock = _read_marker(self.root / f".{folder.name}.time.json") or {}
            same = clock.get("argv") in (key["argv"], argv, self.identity(argv, folder, legacy="all-fields")["argv"])
            holder = locks.holder(self.root / LOCKS / folder.name)
            if same or folder.exists() or holder:
                parts = [f"running now ({holder})"] if holder else []
                if same:
                    attempts = int(clock.get("attempts", 1))
                    parts.append(f"{attempts} attempt{'s' if attempts != 1 else ''}, "
                                 f"{float(clock.get('wall_s', 0)):,.0f} s wall so far")
                parts.append(_progress(stage.kind, folder, argv))
                rows.append(row | {"state": "partial", "detail": "; ".join(p for p in parts if p),
                                   "folder": str(folder)})
            else:
                rows.append(row | {"state": "to run", "detail": "", "folder": str(folder)})
        return rows

    # -- running -----------------------------------------------------------------------------------

    def run(self, stages: list[Stage]) -> dict[str, dict[str, Any]]:
        check_graph(stages)
        self.root.mkdir(parents=True, exist_ok=True)
        for i, stage in enumerate(stages, 1):
            argv, folder = self.resolve(stage)
            self.dirs[stage.name] = folder
            header = f"[{i}/{len(stages)}] {stage.name}: {stage.title or stage.kind}"
            key = self.identity(argv, folder)
            if self._reused(stage, header, argv, folder, key):
                continue
            # Studies share a cache (one base model for all of them): two started at once must not both
            # train into one folder. The second waits for the first, then finds the stage done.
            with locks.Waiting(self.root / LOCKS / folder.name, lambda holder: self.echo(
                    f"{header}: {holder} is running this stage (another study on this cache); waiting for it")):
                if self._reused(stage, header, argv, folder, key):
                    continue
                self._run_one(stage, header, argv, folder, key)
        return self.records

    def _reused(self, stage: Stage, header: str, argv: list[str], folder: Path, key: dict[str, Any]) -> bool:
        """Whether the stage's marker shows this command finished (then its record is kept); refuses a
        folder another command made when stage folders are not named by their command."""
        previous = _read_marker(folder / MARKER)
        if self._finished(previous, key, argv, folder):
            made_by = previous.get("code")
            other = f"; made by {made_by}, this is {code_version()}" if made_by and made_by != code_version() else ""
            self.echo(f"{header} — done earlier ({previous.get('wall_s', 0):.0f} s{other}), reusing {folder}")
            # as it reads now (the cache may have moved since, or the marker predate `key`)
            self.records[stage.name] = previous | {"argv": argv, "folder": str(folder), "key": key}
            return True
        if previous is not None and not self.hashed_dirs:
            raise UserError(
                f"stage {stage.name}: {folder} was made by another command or config file contents "
                f"({' '.join(previous['argv'])}); use another --out, or delete that folder"
            )
        return False

    def _run_one(self, stage: Stage, header: str, argv: list[str], folder: Path, key: dict[str, Any]) -> None:
        marker = folder / MARKER
        self.echo(f"\n=== {header}\n    interplay {' '.join(argv)}")
        if stage.kind == "ladder":  # the ladder writes a file into its folder, not a folder of its own
            folder.mkdir(parents=True, exist_ok=True)
        clock = _StageClock(self.root / f".{folder.name}.time.json", key["argv"],
                            also=[argv, self.identity(argv, folder, legacy="all-fields")["argv"]])
        try:
            rc = self.execute(argv)
        finally:
            clock.stop()
            locks.release_under(folder)  # what the command locked for its process (a training run's --out)
        if rc == 130:  # the command was interrupted (Ctrl-C, SIGTERM): stop the study, not just this stage
            raise KeyboardInterrupt
        if rc != 0:
            raise UserError(f"stage {stage.name} failed (exit status {rc}): interplay {' '.join(argv)}")
        record = {
            "stage": stage.name,
            "argv": argv,
            "key": key,
            "folder": str(folder),
            "wall_s": round(clock.wall_s, 3),
            "cpu_s": round(clock.cpu_s, 3),
            "attempts": clock.attempts,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "code": code_version(),
        }
        clock.path.unlink(missing_ok=True)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1) + "\n")
        os.replace(tmp, marker)
        self.records[stage.name] = record
        self.echo(f"    {stage.name} done in {record['wall_s']:.0f} s wall, {record['cpu_s']:.0f} s CPU")

    def _execute(self, argv: list[str]) -> int:
        load_all_code()
        # Training stages of a multi-GPU preset go through its launcher (torchrun ... -m interplay):
        # only they are distributed; data, evaluation and the ladder run here, once.
        if self.launcher != "interplay" and argv[0] in ("pretrain", "midtrain", "rl"):
            import shlex
            import subprocess

            return subprocess.call([*shlex.split(self.launcher), *argv])
        if argv[0] == "problems":
            from interplay.studies.problems import run_argv

            return run_argv(argv)
        return _execute_in_process(argv)


class _StageClock:
    """Wall and CPU time of a stage over all its attempts: an interrupted stage resumes, and its report
    should count the time spent before the interruption too.

    The running total is rewritten every `every` seconds (a daemon thread) to a small file beside the
    stage folders, so a killed attempt loses at most that much; the next attempt of the same command
    starts from it. Not inside the stage folder: commands check their own output folders.
    """

    def __init__(self, path: Path, argv: list[str], every: float = 30.0, also: list[list[str]] = ()):
        import threading

        self.path = path
        self.argv = argv
        earlier = _read_marker(path) or {}
        same = earlier.get("argv") in (argv, *also)  # `also`: the forms earlier versions wrote
        self.earlier_wall = float(earlier.get("wall_s", 0.0)) if same else 0.0
        self.earlier_cpu = float(earlier.get("cpu_s", 0.0)) if same else 0.0
        self.attempts = int(earlier.get("attempts", 0)) + 1 if same else 1
        self.wall0, self.cpu0 = time.perf_counter(), _cpu_seconds()
        self._stop = threading.Event()
        self._save()
        self._thread = threading.Thread(target=self._tick, args=(every,), daemon=True)
        self._thread.start()

    @property
    def wall_s(self) -> float:
        return self.earlier_wall + time.perf_counter() - self.wall0

    @property
    def cpu_s(self) -> float:
        return self.earlier_cpu + _cpu_seconds() - self.cpu0

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"argv": self.argv, "wall_s": self.wall_s, "cpu_s": self.cpu_s,
                                   "attempts": self.attempts}) + "\n")
        os.replace(tmp, self.path)

    def _tick(self, every: float) -> None:
        while not self._stop.wait(every):
            self._save()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._save()


def _progress(kind: str, folder: Path, argv: list[str]) -> str:
    """What an unfinished stage has kept: a training run's last logged step of how many, its last
    checkpoint and the time to go at its recent pace; an evaluation's completions."""
    if kind in ("pretrain", "midtrain", "rl"):
        from interplay.lm.checkpoint import list_checkpoints  # the complete ones: what a resume would load

        steps = list_checkpoints(folder)
        saved = f"last checkpoint at step {steps[-1][0]}" if steps else "no checkpoint yet"
        logged = last_value(folder / "metrics.jsonl", "step", whole=True)
        if logged is None:
            return saved
        total = _total_steps(argv)
        pace = _recent_step_seconds(folder / "metrics.jsonl", "time/step_s" if kind == "rl" else "step_s")
        text = f"step {logged}{'' if total is None else f' of {total}'} logged, {saved}"
        if total is not None and pace is not None and total > logged:
            text += f"; about {_duration((total - logged) * pace)} to go at {pace:.1f} s a step"
        return text
    if kind == "eval" and (folder / "samples.jsonl").is_file():
        with (folder / "samples.jsonl").open("rb") as f:
            return f"{sum(1 for _ in f):,} completions stored"
    return ""


def _total_steps(argv: list[str]) -> int | None:
    """The step count a training command will run, from its config and --set overrides (no files read
    beyond the config); None when they do not load (the stage itself will say why)."""
    overrides = [item for flag, item in zip(argv, argv[1:]) if flag == "--set"]
    try:
        if argv[0] == "rl":
            from interplay.rl.config import load_rl_config

            return int(load_rl_config(argv[1], overrides).train.steps)
        from interplay.lm.trainconfig import load_run_config

        return load_run_config(argv[1], argv[0], overrides).total_steps()
    except Exception:  # a status line must not fail on a config the stage would refuse anyway
        return None


def _recent_step_seconds(path: Path, key: str, last: int = 20) -> float | None:
    """The median seconds of the last `last` logged steps (a paused or contended step does not skew it)."""
    import statistics

    values = [float(row[key]) for row in _rows_from_end(path, 65536) if isinstance(row.get(key), (int, float))]
    return statistics.median(values[:last]) if values else None


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{max(1, round(seconds / 60))} min"


def last_value(path: Path, key: str, whole: bool = False) -> float | int | None:
    """The last number logged as `key` in a metrics.jsonl, read from its end (a long run's file is large);
    `whole`: only whole numbers count (a step or token count), returned as int."""
    kinds = int if whole else (int, float)
    return next(((row[key] if whole else float(row[key])) for row in _rows_from_end(path, 65536)
                 if isinstance(row.get(key), kinds) and not isinstance(row.get(key), bool)), None)


def _rows_from_end(path: Path, size: int) -> list[dict[str, Any]]:
    """The JSON rows in the last `size` bytes of a JSONL file, newest first; a partial first line, or one
    being written, is skipped; a missing file has none."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - size))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    rows = []
    for line in reversed(lines):
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj).encode()).hexdigest()[:10]


def neutral(kind: str, key: str) -> bool:
    """Whether setting `key` (dotted) of a `kind` command changes nothing it computes: for training commands
    the settings a resumed run may change (logging, checkpoint cadence, evaluation interval, threads,
    compile, the MFU peak); the model preset's name is not one (the preset's contents are the model)."""
    if kind not in ("pretrain", "midtrain", "rl"):
        return False
    from interplay.lm.trainconfig import resumable_change

    return resumable_change(key) and not (key == "model.preset" or key.startswith("model.preset."))


def _without_neutral(data: Any, kind: str, prefix: str = "") -> Any:
    """`data` (a parsed config) without its neutral settings, and without sections left empty by that
    (`eval: {every: 7}` says nothing a stage computes)."""
    if not isinstance(data, dict):
        return data
    out = {}
    for k, v in data.items():
        if neutral(kind, f"{prefix}{k}"):
            continue
        kept = _without_neutral(v, kind, f"{prefix}{k}.")
        if not (kept == {} and isinstance(v, dict) and v):
            out[k] = kept
    return out


def config_meaning(path: Path, argv: list[str], *, all_fields: bool = False) -> str:
    """A hash of what a stage's YAML config says rather than how it is written: its parsed contents (a new
    comment, blank line or key order is the same stage, not a re-run of hours of training), plus the
    contents of the model preset it names (`model: cpu-wide`, or `--set model=...` in the command: an
    edited `configs/model-cpu-wide.yaml` is another model, so another stage). A file that does not parse
    is hashed by its bytes (the stage itself will say what is wrong with it)."""
    import yaml

    from interplay.lm.configtools import CONFIG_DIR

    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError:
        return "bytes:" + hashlib.sha256(raw).hexdigest()
    meaning: dict[str, Any] = {"config": data if all_fields else _without_neutral(data, argv[0])}
    model = data.get("model") if isinstance(data, dict) else None
    for flag, item in zip(argv, argv[1:]):  # a later --set model=NAME replaces the file's model
        if flag == "--set" and item.startswith("model="):
            model = yaml.safe_load(item.partition("=")[2])
    name = model.get("preset") if isinstance(model, dict) else model
    preset = CONFIG_DIR / f"model-{name}.yaml" if isinstance(name, str) and name else None
    if preset is not None and preset.is_file():
        try:
            meaning["model_preset"] = {name: yaml.safe_load(preset.read_bytes())}
        except yaml.YAMLError:
            meaning["model_preset"] = {name: _file_digest(preset)}
    try:
        text = json.dumps(meaning, sort_keys=True, default=str)
    except TypeError:  # keys of mixed types (1 and "a") cannot be sorted
        return "bytes:" + hashlib.sha256(raw).hexdigest()
    return hashlib.sha256(text.encode()).hexdigest()


def _config_digests(argv: list[str]) -> dict[str, str]:
    """Contents of the YAML config files a command names: an edited config is a different stage."""
    out = {}
    for arg in argv:
        if arg.endswith((".yaml", ".yml")) and os.path.isfile(arg):
            out[arg] = _file_digest(Path(arg))
    return out


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_marker(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (corpus workers), user + system."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@functools.cache  # once per process
def load_all_code() -> None:
    """Import every interplay module, once, before the first stage runs here.

    The commands import most of their code lazily (a quick CLI start), and a study runs for hours:
    a `git pull` or an edit meanwhile would give its later stages a mix of old modules (already
    loaded) and new ones (loaded later from disk). That crashed a study once (a new training module
    calling a method the already loaded model class lacked). Loaded up front, a study runs the code
    it started with, whatever happens to the source tree; a restart picks up the new code.
    """
    import importlib
    import pkgutil

    import interplay

    for module in pkgutil.walk_packages(interplay.__path__, "interplay."):
        if module.name != "interplay.__main__":  # (runs the CLI when imported)
            importlib.import_module(module.name)


def _execute_in_process(argv: list[str]) -> int:
    # In-process: the commands' own progress bars and log lines show as they run, and no second
    # Python start-up (torch import) per stage.
    from interplay.cli import main

    return main(argv)
