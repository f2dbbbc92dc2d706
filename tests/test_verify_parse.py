"""The trace parser: exact on the reference generator's gold solutions, careful on model output."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from interplay.verify import load_gold, parse_completion, verify
from interplay.verify.parse import undefined_parent


def as_graph(parsed):
    return {
        "nodes": [{"name": n.name, "value": n.value, "dependencies": sorted(n.parents)} for n in parsed.nodes],
        "answer": parsed.answer,
    }


def test_every_reference_solution_parses_to_the_generator_graph(reference_rows):
    assert len(reference_rows) == 228
    for i, row in enumerate(reference_rows):
        parsed = parse_completion(row["solution"])
        assert parsed.issues == [], (i, parsed.issues)
        assert as_graph(parsed) == row["generator_graph"], i


def test_every_reference_solution_is_process_correct_against_itself(reference_rows):
    for i, row in enumerate(reference_rows):
        completion = f" {row['solution']} </solution> <answer> {row['answer']} </answer>"
        v = verify(row, completion)  # gold parsed from the reference-format row's solution
        assert v.process_correct and v.outcome_correct and v.process_accuracy == 1.0, i
        assert v.errors.to_dict() == {"missing": [], "dependency": [], "value": [], "extra": []}


def test_not_the_reference_parser_on_its_known_quirk_rows(reference_rows):
    """Where the reference parser's gold_graph is wrong (reverse rows), ours must differ from it."""
    quirk_rows = [i for i, r in enumerate(reference_rows) if r["gold_graph"] != r["generator_graph"]]
    assert len(quirk_rows) == 96
    for i in quirk_rows:
        assert as_graph(parse_completion(reference_rows[i]["solution"])) != reference_rows[i]["gold_graph"]


def test_intermediate_letters_resolve_to_the_nodes_they_were_computed_from():
    trace = (
        "Define A as q; so q = 2. Define B as O; so O = 2. Define D as t; "
        "C = q + O = 2 + 2 = 4; so t = 4 + C = 4 + 4 = 8. Answer: 8."
    )
    p = parse_completion(trace)
    assert [n.name for n in p.nodes] == ["A", "B", "D"]
    assert p.nodes[2].parents == {"A", "B"} and p.nodes[2].value == 8
    assert "C" not in {n.letter for n in p.nodes}


def test_chained_intermediates_resolve_transitively():
    p = parse_completion(
        "Define A as a; so a = 1. Define B as b; so b = 2. Define C as c; so c = 3. "
        "Define T as t; i = a + b = 1 + 2 = 3; j = i + c = 3 + 3 = 6; so t = 2 * j = 2 * 6 = 12."
    )
    assert p.nodes[3].parents == {"A", "B", "C"} and p.nodes[3].value == 12


def test_reused_letters_mean_their_latest_binding():
    p = parse_completion(
        "Define A as a; so a = 2. Define B as a; so a = a + 1 = 2 + 1 = 3. Define C as c; so c = a = 3."
    )
    assert [(n.name, set(n.parents), n.value) for n in p.nodes] == [
        ("A", set(), 2),
        ("B", {"A"}, 3),
        ("C", {"B"}, 3),
    ]


def test_an_intermediate_may_shadow_a_defined_letter():
    p = parse_completion("Define A as a; so a = 2. Define B as b; so b = 5. Define C as c; a = b = 5; so c = a + 1 = 6.")
    assert p.nodes[2].parents == {"B"}


def test_a_letter_never_bound_is_a_parent_that_matches_nothing():
    p = parse_completion("Define A as a; so a = q + 1 = 4.")
    assert p.nodes[0].parents == {undefined_parent("q")}
    assert p.nodes[0].value == 4  # the stated result is still the claimed value


def test_english_narration_gives_no_dependencies():
    # The reference parser would read w, h, e, ... from these words as parents.
    p = parse_completion(
        "Define A as w; so w = 2. Define B as h; so h = 3. Define C as e; so e = the w plus h = 5. "
        "We know e = 5, so we have w + h = 5 and we solve it through the following steps. Answer: 5."
    )
    assert p.nodes[0].parents == frozenset() and p.nodes[1].parents == frozenset()
    assert p.nodes[2].parents is None and p.nodes[2].value is None  # unreadable, not guessed
    assert any("unreadable" in issue for issue in p.issues)


def test_no_last_number_fallback():
    p = parse_completion("Define A as a; so a = 3 + b. Define B as c; so c = seven is 7.")
    assert p.nodes[0].value is None  # b is unknown: not 3
    assert p.nodes[1].value is None  # not 7
    assert parse_completion("no trace here, just 42").answer is None


def test_reverse_values_are_linear_in_x_until_solved():
    trace = (
        "The question is difficult, so we use equations to solve it. "
        "Define X as x; we don't know its value yet but will find it out later. "
        "Define Y as y; so y = 3 * x = (3) * (x) = 3*x. Define Z as z; so z = y + 2 = 3*x + 2. "
        "Define W as w; so w = 7 - x = 7 - x. "
        "We know z = 14, so we have 3*x + 2 = 14 and we solve it through the following steps: "
        "Simplifying the equation: 3*x + 2 = 14. Solution: x = 4. Answer: 4."
    )
    p = parse_completion(trace)
    assert [(n.name, n.value) for n in p.nodes] == [("X", 4), ("Y", 12), ("Z", 14), ("W", 3)]
    assert p.nodes[0].unknown and p.nodes[0].parents == frozenset()
    assert p.nodes[2].parents == {"Y"} and p.nodes[3].parents == {"X"}
    unsolved = parse_completion(trace.replace("Solution: x = 4.", ""))
    assert [n.value for n in unsolved.nodes] == [None, None, None, None]


def test_x_is_an_ordinary_letter_when_it_is_not_the_unknown():
    p = parse_completion("Define A as x; so x = 2. Define B as b; so b = x + 1 = 3. Solution: x = 9.")
    assert [n.value for n in p.nodes] == [2, 3]


def test_answer_comes_from_tags_then_answer_line():
    body = "Define A as a; so a = 2. Answer: 2."
    assert parse_completion(body).answer == 2
    assert parse_completion(f" {body} </solution> <answer> 5 </answer>").answer == 5
    assert parse_completion(f" {body} </solution> <answer> five </answer>").answer is None
    assert parse_completion(f" {body} </solution> <answer> 7").answer == 7  # unclosed tag, cut at the end
    # ...but an unclosed tag followed by more text is no answer (a length-cap reward hack seen in RL)
    assert parse_completion(f" {body} </solution> <answer> 7 <question> 7 7 7").answer is None
    assert parse_completion(f" {body} </solution> <answer> 7\nand more").answer is None
    assert parse_completion("<answer> -3 </answer>").answer == -3


def test_text_after_the_solution_is_not_read_as_steps():
    p = parse_completion("Define A as a; so a = 2. </solution> <answer> 2 </answer> Define B as b; so b = 3.")
    assert [n.name for n in p.nodes] == ["A"]


def test_names_are_whitespace_normalised_and_non_ascii_kept():
    p = parse_completion("Define  total number of movies in  Cinéma de Montreval as a; so a = 2.")
    assert p.nodes[0].name == "total number of movies in Cinéma de Montreval"


def test_modular_values_are_reduced():
    p = parse_completion("Define A as a; so a = 20. Define B as b; so b = a + 9 = 20 + 9 = 29. Answer: 29.", modulus=23)
    assert [n.value for n in p.nodes] == [20, 6] and p.answer == 6


def test_our_generator_modular_traces_verify():
    from interplay.world import WorldOptions, generate

    for i in range(40):
        r = generate(op=3 + i % 15, context="school", mode="forward", seed=3, index=i, options=WorldOptions(modulus=23))
        completion = f" {r['solution']} </solution> <answer> {r['answer']} </answer>"
        assert verify(r, completion).process_correct, r["solution"]


# --- never raises -----------------------------------------------------------------------------

FRAGMENTS = [
    "Define ", " as ", "x", "a", "Q", ";", "; ", "so ", " = ", "=", "+", "-", "*", "/", "(", ")", "0", "7",
    "12", "99999999999999999999", ".", ". ", "we don't know its value yet", "Solution: x = ", "Answer: ",
    "<answer>", "</answer>", "</solution>", "total number of adult animals in South Zoo", "é", "\n", " ",
]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text):
    p = parse_completion(text)
    assert isinstance(p.nodes, list)
    verify({"graph": {"nodes": [{"name": "A", "value": 1, "parents": []}]}, "answer": 1}, text)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=80))
def test_trace_like_garbage_never_raises(parts):
    text = "".join(parts)
    p = parse_completion(text)
    assert p.parse_ok == bool(p.nodes)
    for modulus in (None, 23):
        parse_completion(text, modulus=modulus)


def test_pathological_inputs_never_raise():
    for text in [
        "Define A as a; so a = " + "(" * 5000 + "1" + ")" * 5000 + ".",
        "Define A as a; so a = " + "9" * 10000 + ".",
        "Define A as a; so a = " + " * ".join(["99999"] * 2000) + ".",
        "Define " * 10000,
        "Define A as x; we don't know. Solution: x = " + "9" * 5000 + ".",
        "<answer>" * 1000,
        "\x00\ud800",
        json.dumps({"a": 1}),
    ]:
        parse_completion(text)
    assert parse_completion(None).parse_ok is False  # type: ignore[arg-type]
    assert parse_completion(b"Define A as a; so a = 1.").parse_ok is False  # type: ignore[arg-type]


def test_gold_from_reference_row_equals_gold_from_generator_graph(reference_rows):
    for row in reference_rows:
        from_solution = load_gold(row)
        from_graph = load_gold({"graph": row["generator_graph"], "answer": row["answer"]})
        assert from_solution == from_graph
