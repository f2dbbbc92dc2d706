"""The one `interplay` command, with a subcommand per pipeline stage.

Each subcommand lives next to the code it drives, in a module that defines

    add_arguments(parser)   # declare flags (cheap: no heavy imports at module top)
    run(args) -> int        # do the work (import torch & co. here, not at module top)

and is registered below by module path, so `interplay sample` never pays for torch.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from interplay import __version__
from interplay.errors import UserError

# name -> (module, one-line help). Order is the order of the pipeline.
COMMANDS: dict[str, tuple[str, str]] = {
    "sample": ("interplay.world.cli", "print generated problems as JSON lines"),
    "corpus": ("interplay.corpus.cli", "build corpus shards from a mixture config (and show them)"),
    "verify": ("interplay.verify.cli", "score completions against gold graphs (process verification)"),
    "tokenizer": ("interplay.lm.tokenizer_cli", "train the BPE tokenizer on a corpus; tokens per problem"),
    "pretrain": ("interplay.lm.cli", "pre-train a Qwen2 model from scratch on a corpus"),
    "midtrain": ("interplay.lm.cli", "continue training a checkpoint on a new data mixture"),
    "rl": ("interplay.rl.cli", "reinforcement learning (GRPO) from a checkpoint with verifier rewards"),
    "budget": ("interplay.budget", "compute accounting: FLOPs, RL token equivalents, mid-training/RL split"),
    "eval": ("interplay.evaluate.cli_eval", "sample n completions per problem, verify them, report pass@k"),
    "ladder": ("interplay.evaluate.cli_ladder", "propose ID / OOD-edge / OOD-hard op ranges from an evaluation"),
    "show": ("interplay.evaluate.cli_show", "draw a problem's gold graph beside a completion's predicted graph"),
    "demo": ("interplay.studies.demo_cli", "the whole pipeline on a CPU in minutes: data, training, RL, evaluation, report"),
    "study": ("interplay.studies.study_cli", "run one of the paper's studies (extrapolation, context, allocation, rewards) as cached stages"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="interplay",
        description="A laboratory for how pre-training, mid-training and RL shape reasoning.",
    )
    parser.add_argument("--version", action="version", version=f"interplay {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._module.run(args) or 0)
    except UserError as exc:
        print(f"interplay {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError) as exc:
        # A path the user gave that cannot be used as asked (e.g. --out naming an existing file): the
        # system's own words and the path, not a traceback.
        where = f": {exc.filename}" if exc.filename else ""
        print(f"interplay {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `interplay sample --count 1000 | head`: the reader has what it wanted
        # (BrokenPipeError is an OSError, so it is caught before the clause below re-raises it.) Point
        # stdout at /dev/null so that the interpreter's final flush does not raise again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        if exc.errno == errno.EROFS:  # --out on a read-only file system: the user's path, not our bug
            print(f"interplay {args.command}: error: {exc.strerror}: {exc.filename}", file=sys.stderr)
            return 1
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        print(f"interplay {args.command}: error: {exc.strerror} while writing {exc.filename or 'output'}; "
              "finished stages and checkpoints are kept: free space and rerun the same command", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interplay {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
