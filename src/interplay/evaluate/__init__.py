"""Evaluation: sample n completions per problem, verify each, and report pass@k the paper's way.

    interplay eval --model DIR --problems P --n 128 --out DIR     (runner, report, plots)
    interplay ladder --eval DIR                                    (ID / OOD-edge / OOD-hard ranges)
    interplay show --problems P --id ID [--completion C] --out F.png   (gold vs predicted graph)

Modules: problems (loading), ranges (op ranges from flags or YAML), runner (sampling + verifying,
resumable), report (tables), plots, ladder (ranges and the edge-of-competence filter), show (graphs).
"""
