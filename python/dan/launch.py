"""``python -m dan.launch``: torchrun, ending a failed or interrupted job without a traceback.

    python -m dan.launch --nproc_per_node 2 -m dan train --batch-size 8 ...

takes exactly torchrun's arguments. torchrun itself (torch.distributed.run, 2.x) ends every job
in which a worker exited non-zero by raising ChildFailedError out of its main(), and a job stopped
by SIGINT or SIGTERM by raising SignalException; Python prints either as a traceback of torchrun's
own frames after dan's one-line error. No exit code of a worker avoids that (0 would report the
job as a success). Here the job ends with dan's line, torchrun's summary of the failed ranks
(without the traceback) and an exit status: the first failed worker's (2 for a refused argument,
1 for a failed run, 128 + N for a worker killed by signal N), or 128 + N when this launcher was
stopped by signal N (130 for Ctrl-C), as a shell reports it. The launcher's own failure (a
--master_port in use) is one line and status 1; DAN_DEBUG=1 shows its traceback.
"""
from __future__ import annotations

import os
import sys
import traceback


def main(argv=None) -> int:
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    args = parse_args(argv)
    if _bad_count(args.nproc_per_node):  # torchrun asserts it deep in its agent: a bare AssertionError
        print(f"dan.launch: error: --nproc_per_node must be an integer >= 1 (or auto, cpu, gpu), got "
              f"{args.nproc_per_node}", file=sys.stderr)
        return 2
    try:
        run(args)
    except ChildFailedError as err:
        print(err.format_msg(), file=sys.stderr)
        _, first = err.get_first_failure()
        return first.exitcode if first.exitcode > 0 else 128 - first.exitcode  # -N: killed by signal N
    except SignalException as err:  # the agent has stopped the workers before raising it
        print(f"dan.launch: stopped by {err.sigval.name}; the workers were stopped too", file=sys.stderr)
        return 128 + int(err.sigval)
    except Exception as err:  # the launcher's own failure (a --master_port in use, a rendezvous): one line
        if os.environ.get("DAN_DEBUG", "") not in ("", "0"):
            traceback.print_exc()
        text = " ".join(str(err).split()) or type(err).__name__
        print(f"dan.launch: error: {text} ({type(err).__name__})", file=sys.stderr)
        return 1
    return 0


def _bad_count(value: str) -> bool:
    """A process count torchrun would take as an integer below 1 (its other words it checks itself)."""
    try:
        return int(value) < 1
    except ValueError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
