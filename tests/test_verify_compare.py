"""Process verification under mutations of gold traces: each error lands where it should."""

from __future__ import annotations

import re

import pytest

from interplay.errors import UserError
from interplay.verify import load_gold, verify


def completion(trace: str, answer) -> str:
    return f" {trace} </solution> <answer> {answer} </answer>"


@pytest.fixture()
def row(reference_rows):
    def get(i):
        r = reference_rows[i]
        return r, load_gold(r), {n.name: n for n in load_gold(r).nodes}

    return get


def names_of(gold):
    return [n.name for n in gold.nodes]


def rename_letters(trace: str, keep: str = "x") -> str:
    """Swap every variable letter for another one (a bijection), leaving `keep` alone."""
    letters = sorted(set(re.findall(r"(?<![\w'])[A-Za-z](?!\w)", trace)) - set(keep))
    pool = [c for c in "abcdefghijklmnopqrstuvwyzABCDEFGHIJKLMNOPQRSTUVWYZ" if c not in keep]
    mapping = dict(zip(letters, pool[::-1]))
    assert any(k != v for k, v in mapping.items())
    return re.sub(r"(?<![\w'])[A-Za-z](?!\w)", lambda m: mapping.get(m.group(0), m.group(0)), trace)


@pytest.mark.parametrize("i", [0, 36, 37, 130, 131, 200, 226, 227])
def test_renamed_letters_are_still_correct(row, i):
    r, gold, _ = row(i)
    renamed = rename_letters(r["solution"])
    assert renamed != r["solution"]
    v = verify(gold, completion(renamed, r["answer"]))
    assert v.process_correct, v.errors


def test_one_wrong_value_is_a_value_error_at_that_node(row):
    r, gold, _ = row(36)
    bad = r["solution"].replace("so E = 2 + Y = 2 + 4 = 6", "so E = 2 + Y = 2 + 4 = 5")
    v = verify(gold, completion(bad, r["answer"]))
    assert v.errors.value == ["adult bear in South Zoo"]
    assert v.errors.dependency == v.errors.missing == v.errors.extra == []
    assert v.outcome_correct and not v.process_correct and v.process_accuracy == pytest.approx(2 / 3)


def test_a_wrong_value_that_propagates_marks_its_consumers(row):
    r, gold, _ = row(36)
    bad = (
        r["solution"]
        .replace("so E = 2 + Y = 2 + 4 = 6", "so E = 2 + Y = 2 + 4 = 5")
        .replace("A = E = 6; so p = 1 + A = 1 + 6 = 7", "A = E = 5; so p = 1 + A = 1 + 5 = 6")
    )
    v = verify(gold, completion(bad, 6))
    assert v.errors.value == ["adult bear in South Zoo", "adult bear in Bundle Ranch"]
    assert v.errors.dependency == [] and not v.outcome_correct


def test_a_wrong_solved_x_propagates_to_exactly_the_nodes_that_depend_on_x(row):
    r, gold, by_name = row(227)
    x_name = "intense detective thriller in Golden Banana Movie Festival"
    descendants = {x_name}
    for node in gold.nodes:  # gold nodes are in topological order
        if node.parents & descendants:
            descendants.add(node.name)
    bad = r["solution"].replace("Solution: x = 3.", "Solution: x = 4.")
    v = verify(gold, completion(bad, 4))
    assert set(v.errors.value) == descendants and len(descendants) == 2
    assert v.errors.dependency == [] and not v.outcome_correct


def test_a_wrong_reverse_intermediate_is_a_value_error_there(row):
    r, gold, _ = row(130)
    bad = r["solution"].replace("(3) * (4*x) = 12*x", "(3) * (4*x) = 13*x")
    v = verify(gold, completion(bad, r["answer"]))
    assert v.errors.value == ["intense detective thriller in West Sahara Movie Festival"]


def test_a_dropped_step_is_a_missing_node_and_breaks_its_consumers_dependencies(row):
    r, gold, _ = row(36)
    step = "Define adult bear in South Zoo as E; Y = P = 4; so E = 2 + Y = 2 + 4 = 6. "
    assert step in r["solution"]
    v = verify(gold, completion(r["solution"].replace(step, ""), r["answer"]))
    assert v.errors.missing == ["adult bear in South Zoo"]
    assert v.errors.dependency == ["adult bear in Bundle Ranch"]  # its parent letter E is unbound
    assert v.outcome_correct and not v.process_correct


def test_dropping_the_last_step_is_only_a_missing_node(row):
    r, gold, _ = row(36)
    step = "Define adult bear in Bundle Ranch as p; A = E = 6; so p = 1 + A = 1 + 6 = 7. "
    v = verify(gold, completion(r["solution"].replace(step, ""), r["answer"]))
    assert v.errors.missing == ["adult bear in Bundle Ranch"]
    assert v.errors.dependency == v.errors.value == v.errors.extra == []
    assert v.outcome_correct and not v.process_correct and v.process_accuracy == pytest.approx(2 / 3)


def test_a_wrong_parent_is_a_dependency_error(row):
    r, gold, _ = row(227)
    assert "so Y = N = 2" in r["solution"]
    v = verify(gold, completion(r["solution"].replace("so Y = N = 2", "so Y = p = 2"), r["answer"]))
    assert v.errors.dependency == ["solemn period drama in Golden Banana Movie Festival"]
    assert v.errors.value == [] and v.outcome_correct and not v.process_correct


@pytest.mark.parametrize("trace", ["", "I think the answer is obvious.", "Define nonsense as q; so q = 1."])
def test_right_answer_with_a_wrong_or_empty_trace_is_outcome_but_not_process_correct(row, trace):
    r, gold, _ = row(130)
    v = verify(gold, completion(trace, r["answer"]))
    assert v.outcome_correct and not v.process_correct
    assert v.errors.missing == names_of(gold) and v.process_accuracy == 0.0
    assert v.parse_ok == bool(trace.startswith("Define"))


def test_an_added_distractor_is_an_extra_node_and_still_process_correct(row):
    r, gold, _ = row(37)
    first_dot = r["solution"].index(". ") + 2
    extra = "Define adult wolf in Nowhere Zoo as K; so K = 3. "
    v = verify(gold, completion(r["solution"][:first_dot] + extra + r["solution"][first_dot:], r["answer"]))
    assert v.errors.extra == ["adult wolf in Nowhere Zoo"]
    assert v.process_correct and v.process_accuracy == 1.0


def test_a_node_defined_twice_is_judged_by_its_first_definition(row):
    r, gold, _ = row(37)
    again = "Define adult racoon in Mayer Aquarium as Z; so Z = 1. "
    v = verify(gold, completion(r["solution"].replace("Answer:", again + "Answer:"), r["answer"]))
    assert v.errors.extra == ["adult racoon in Mayer Aquarium"] and v.process_correct


def test_wrong_answer_with_a_perfect_trace(row):
    r, gold, _ = row(37)
    v = verify(gold, completion(r["solution"], r["answer"] + 1))
    assert not v.outcome_correct and not v.process_correct and v.process_accuracy == 1.0
    assert v.wrong_answer and not v.unparseable


def test_our_record_format_and_the_dependencies_spelling_both_load(reference_rows):
    r = reference_rows[130]
    ours = {"graph": {"nodes": [{**{k: v for k, v in n.items() if k != "dependencies"}, "parents": n["dependencies"]}
                                for n in r["generator_graph"]["nodes"]], "target": "x"}, "answer": r["answer"]}
    assert load_gold(ours) == load_gold(r) == load_gold({"graph": r["generator_graph"], "answer": r["answer"]})


@pytest.mark.parametrize(
    "record, field",
    [
        ({"answer": 3}, "solution"),
        ({"graph": {"nodes": []}, "answer": 1}, "graph.nodes"),
        ({"graph": {"nodes": [{"name": "A", "value": "three", "parents": []}]}, "answer": 1}, "value"),
        ({"graph": {"nodes": [{"name": "A", "value": 1}]}, "answer": 1}, "parents"),
        ({"graph": {"nodes": [{"name": "A", "value": 1, "parents": []}]}}, "answer"),
        ({"solution": "no steps here", "answer": 1}, "solution"),
        ({"graph": {"nodes": [{"name": "A", "value": 1, "parents": []}]}, "answer": 1, "modulus": 1}, "modulus"),
    ],
)
def test_bad_records_raise_user_errors_naming_the_field(record, field):
    with pytest.raises(UserError, match=field):
        load_gold(record)
