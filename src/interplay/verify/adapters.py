"""Our verifier behind the reward-function signatures of other RL trainers.

TRL (GRPOTrainer(reward_funcs=[...])):

    from interplay.verify.adapters import trl_reward_func
    reward_fn = trl_reward_func("composite", alpha=0.2)
    # called by TRL as reward_fn(prompts=..., completions=..., completion_ids=..., **dataset_columns)

The dataset needs the record columns the reward reads: `answer`, plus `graph` (our records) or
`solution` (reference-format records) for any reward other than `outcome`.

verl (custom_reward_function: {path: <this file>, name: compute_score, reward_kwargs: {reward: composite, alpha: 0.2}}):

    compute_score(data_source, solution_str, ground_truth, extra_info=None, reward="outcome", **params)

where `ground_truth` is a record-like dict (or its JSON text) with `answer` and `graph`/`solution`
(make one with `verl_ground_truth(record)`), or, for the outcome reward only, the bare answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from interplay.errors import UserError
from interplay.verify.compare import Errors, Verdict, verify
from interplay.verify.gold import Gold, load_gold, to_int
from interplay.verify.parse import extract_answer
from interplay.verify.rewards import Reward, get_reward


def _completion_text(completion: Any) -> str:
    """TRL passes plain strings, or (conversational datasets) a list of message dicts."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], Mapping):
        content = completion[-1].get("content")
        return content if isinstance(content, str) else ""
    return ""


def _outcome_only(answer: Any, text: str, modulus: Any = None) -> Verdict:
    """A verdict when no gold graph exists: only the answer can be judged."""
    predicted = extract_answer(text)[0] if isinstance(text, str) else None
    gold_answer = to_int(answer, "answer")
    if modulus is not None:
        m = to_int(modulus, "modulus")
        gold_answer %= m
        predicted = None if predicted is None else predicted % m
    ok = predicted is not None and predicted == gold_answer
    return Verdict(False, predicted, ok, False, 0.0, Errors(), 1)


def _score_one(reward: Reward, record: Mapping[str, Any] | Gold, text: str) -> Verdict:
    if isinstance(record, Gold) or record.get("graph") is not None or record.get("solution"):
        return verify(load_gold(record), text)
    if reward.needs_process:
        raise UserError(
            f"reward {reward.name!r} needs a gold graph: give the records' 'graph' (or reference "
            "'solution') column to the trainer, or use the 'outcome' reward"
        )
    if record.get("answer") is None:
        raise UserError("the reward needs the records' 'answer' column")
    return _outcome_only(record["answer"], text, record.get("modulus"))


def trl_reward_func(reward: str = "outcome", **params: Any) -> Callable[..., list[float]]:
    """A TRL GRPOTrainer reward function: `(prompts, completions, **dataset_columns) -> list[float]`."""
    r = get_reward(reward, **params)

    def reward_fn(prompts: list[Any], completions: list[Any], **columns: Any) -> list[float]:
        n = len(completions)
        # Dataset columns arrive as lists aligned with completions; others (trainer_state, ...) are not.
        cols = {k: v for k, v in columns.items() if isinstance(v, list) and len(v) == n}
        golds: dict[Any, Gold] = {}  # GRPO repeats each prompt num_generations times
        out = []
        for i, completion in enumerate(completions):
            record = {k: v[i] for k, v in cols.items()}
            key = record.get("id")
            if key is not None and isinstance(key, (str, int)) and key in golds:
                source: Mapping[str, Any] | Gold = golds[key]
            elif record.get("graph") is not None or record.get("solution"):
                source = load_gold(record)
                if key is not None and isinstance(key, (str, int)):
                    golds[key] = source
            else:
                source = record
            out.append(float(r(_score_one(r, source, _completion_text(completion)))))
        return out

    reward_fn.__name__ = f"interplay_{reward}"
    return reward_fn


def _ground_truth_record(ground_truth: Any) -> Mapping[str, Any]:
    if isinstance(ground_truth, str):
        s = ground_truth.strip()
        if s.startswith("{"):
            try:
                ground_truth = json.loads(s)
            except json.JSONDecodeError as exc:
                raise UserError(f"ground_truth looks like JSON but is not: {exc.msg}") from None
        else:
            return {"answer": s}
    if isinstance(ground_truth, Mapping):
        return ground_truth
    if isinstance(ground_truth, (int, float)):
        return {"answer": ground_truth}
    raise UserError(f"ground_truth must be a record dict, its JSON text, or an answer; got {type(ground_truth).__name__}")


def compute_score_details(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: Any = None,
    reward: str = "outcome",
    **params: Any,
) -> dict[str, float]:
    """verl custom reward returning a dict: "score" plus diagnostics verl logs per sample."""
    r = get_reward(reward, **params)
    v = _score_one(r, _ground_truth_record(ground_truth), solution_str if isinstance(solution_str, str) else "")
    return {
        "score": float(r(v)),
        "outcome_correct": float(v.outcome_correct),
        "process_correct": float(v.process_correct),
        "process_accuracy": float(v.process_accuracy),
    }


def compute_score(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: Any = None,
    reward: str = "outcome",
    **params: Any,
) -> float:
    """verl's custom reward signature; `reward` and its params come from `reward_kwargs`."""
    return compute_score_details(data_source, solution_str, ground_truth, extra_info, reward, **params)["score"]


def verl_ground_truth(record: Mapping[str, Any]) -> str:
    """The `reward_model.ground_truth` value for a record: JSON with what the verifier needs."""
    keep = {k: record[k] for k in ("id", "answer", "graph", "solution", "mode", "modulus") if k in record}
    if "graph" in keep:
        keep.pop("solution", None)  # the graph is the gold; the trace would only be re-parsed
    return json.dumps(keep, ensure_ascii=False, separators=(",", ":"))
