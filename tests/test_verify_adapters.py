"""The TRL and verl reward signatures, called the way those trainers call them."""

from __future__ import annotations

import json

import pytest

from interplay.errors import UserError
from interplay.verify.adapters import compute_score, compute_score_details, trl_reward_func, verl_ground_truth


@pytest.fixture()
def records(reference_rows):
    out = []
    for i in (36, 130):
        r = reference_rows[i]
        nodes = [{"name": n["name"], "value": n["value"], "parents": n["dependencies"]} for n in r["generator_graph"]["nodes"]]
        out.append({"id": f"p{i}", "answer": r["answer"], "graph": {"nodes": nodes, "target": nodes[-1]["name"]},
                    "solution": r["solution"], "mode": "forward" if r["mode"] == "normalforward" else "reverse",
                    "modulus": None})
    return out


def good(r):
    return f" {r['solution']} </solution> <answer> {r['answer']} </answer>"


def wrong_answer(r):
    return f" {r['solution']} </solution> <answer> {r['answer'] + 1} </answer>"


def test_trl_signature_with_dataset_columns(records):
    fn = trl_reward_func("composite", alpha=0.2)
    assert fn.__name__ == "interplay_composite"
    # GRPO: each prompt repeated num_generations times, columns aligned with completions.
    batch = [records[0], records[0], records[1], records[1]]
    completions = [good(records[0]), wrong_answer(records[0]), good(records[1]), "garbage"]
    columns = {key: [r[key] for r in batch] for key in ("id", "answer", "graph", "mode", "modulus")}
    scores = fn(prompts=["q"] * 4, completions=completions, completion_ids=[[1]] * 4, trainer_state=None, **columns)
    assert scores == pytest.approx([1.0, 0.8, 1.0, 0.0])


def test_trl_conversational_completions_and_reference_solution_column(records):
    fn = trl_reward_func("strict")
    completions = [[{"role": "assistant", "content": good(records[1])}], [{"role": "assistant", "content": ""}]]
    scores = fn([[{"role": "user", "content": "q"}]] * 2, completions,
                answer=[records[1]["answer"]] * 2, solution=[records[1]["solution"]] * 2)
    assert scores == [1.0, 0.0]


def test_trl_outcome_needs_only_the_answer_column(records):
    fn = trl_reward_func("outcome")
    assert fn(["q", "q"], [" x </solution> <answer> 7 </answer>", "Answer: 6."], answer=[7, 7]) == [1.0, 0.0]
    with pytest.raises(UserError, match="graph"):
        trl_reward_func("process")(["q"], ["Answer: 7."], answer=[7])


def test_verl_compute_score_keyword_call(records):
    r = records[1]
    gt = verl_ground_truth(r)
    assert "solution" not in json.loads(gt)  # the graph is enough
    kwargs = dict(data_source="interplay", ground_truth=gt, extra_info={"index": 0})
    assert compute_score(solution_str=good(r), **kwargs) == 1.0
    assert compute_score(solution_str=wrong_answer(r), **kwargs) == 0.0
    assert compute_score(solution_str=wrong_answer(r), reward="process", **kwargs) == 1.0
    assert compute_score(solution_str=wrong_answer(r), reward="composite", alpha=0.5, **kwargs) == 0.5
    details = compute_score_details(solution_str=wrong_answer(r), reward="gated_composite", **kwargs)
    assert details == {"score": 0.0, "outcome_correct": 0.0, "process_correct": 0.0, "process_accuracy": 1.0}


def test_verl_ground_truth_forms(records):
    r = records[0]
    # positional call, dict ground truth, reference-format (solution only) ground truth, bare answer
    assert compute_score("src", good(r), {"answer": r["answer"], "graph": r["graph"]}, None, "strict") == 1.0
    assert compute_score("src", good(r), {"answer": r["answer"], "solution": r["solution"]}, None, "strict") == 1.0
    assert compute_score("src", good(r), str(r["answer"])) == 1.0
    assert compute_score("src", good(r), r["answer"]) == 1.0
    with pytest.raises(UserError, match="needs a gold graph"):
        compute_score("src", good(r), str(r["answer"]), None, "process")
    with pytest.raises(UserError, match="unknown reward"):
        compute_score("src", good(r), r["answer"], None, "bogus")
