"""Our own generator's problems: every gold trace parses exactly to its exported graph."""

from __future__ import annotations

import itertools

from interplay.text import format_completion
from interplay.verify import load_gold, parse_completion, verify
from interplay.world import generate

CONTEXTS = ("zoo", "school", "movies")
MODES = ("forward", "reverse")


def test_10000_generated_problems_parse_exactly_and_score_process_correct():
    cells = list(itertools.product(range(2, 21), CONTEXTS, MODES))  # 114 (op, context, mode) cells
    n = 0
    for index in range(10_000):
        op, context, mode = cells[index % len(cells)]
        record = generate(op=op, context=context, mode=mode, seed=2024, index=index)
        parsed = parse_completion(record["solution"])
        gold = load_gold(record)
        got = [(n.name, n.parents, n.value) for n in parsed.nodes]
        want = [(g.name, g.parents, g.value) for g in gold.nodes]
        assert got == want and parsed.answer == record["answer"] and not parsed.issues, record["solution"]
        v = verify(gold, format_completion(record))
        assert v.process_correct and v.errors.extra == [], record["solution"]
        n += 1
    assert n == 10_000


def test_ordered_letters_and_no_distractors_options_also_verify():
    from interplay.world import WorldOptions

    options = WorldOptions(letters="ordered", distractors=(0, 0))
    for index in range(200):
        op, context, mode = 2 + index % 19, CONTEXTS[index % 3], MODES[index // 3 % 2]
        record = generate(op=op, context=context, mode=mode, seed=7, index=index, options=options)
        assert verify(record, format_completion(record)).process_correct, record["solution"]
        graph = parse_completion(record["solution"]).to_graph()
        assert graph["answer"] == record["answer"]
        assert graph["nodes"] == [{**n, "parents": sorted(n["parents"])} for n in record["graph"]["nodes"]]
