"""Grade a class on a SLURM cluster with dask-jobqueue: one Dask worker per job, one grader each.

    .venv/bin/python examples/cluster/slurm.py SUBMISSIONS --out OUT --jobs 8

Each SLURM job runs one Dask worker with one thread (a grader grades one submission at a time, and
torch in it uses one thread), in the grader's own virtualenv, which must be on a file system the
compute nodes see. The worker nodes need what a local batch needs (README "Security model"):
bubblewrap for the strong sandbox, checked by `autograder doctor` on a node before the first
batch. Adjust QUEUE, ACCOUNT and the resources to your site.
"""
import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"


def make_cluster(queue: str = "normal", account: str | None = None, walltime: str = "01:00:00", **overrides):
    """A SLURMCluster whose jobs each run one single-threaded Dask worker in the grader's venv.

    ``overrides`` go to SLURMCluster as they are (``scheduler_options``, ``interface``, ...).
    """
    from dask_jobqueue import SLURMCluster

    return SLURMCluster(
        queue=queue,
        account=account,
        cores=1,  # one thread: one grading at a time per worker; the sandboxed child is a process of its own
        processes=1,
        memory="6GB",  # the worker (~0.5 GB), its fork server (~0.3 GB) and a child (limits.memory_mb: 4 GB)
        walltime=walltime,
        python=str(VENV_PYTHON),
        job_script_prologue=["export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1"],
        **overrides,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=8, help="SLURM jobs, one Dask worker each")
    parser.add_argument("--queue", default="normal")
    parser.add_argument("--account", default=None)
    args = parser.parse_args()
    from autograder.batch import grade_batch

    with make_cluster(args.queue, args.account) as cluster:
        cluster.scale(jobs=args.jobs)
        summary = grade_batch(args.submissions, args.out, scheduler=cluster.scheduler_address)
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
