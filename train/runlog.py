"""A run's records: log.txt (also printed) and losses.csv. A data-parallel peer's Run is quiet: rank 0 writes."""
import os
import time


class Run:
    def __init__(self, out, quiet=False):
        self.out, self.quiet = out, quiet
        os.makedirs(out, exist_ok=True)
        if not quiet:
            self.logf = open(os.path.join(out, "log.txt"), "a")
            self.csv = open(os.path.join(out, "losses.csv"), "a")

    def log(self, msg):
        if self.quiet:
            return
        line = time.strftime("%H:%M:%S ") + msg
        print(line, flush=True)
        self.logf.write(line + "\n")
        self.logf.flush()

    def loss(self, stage, step, elapsed, **vals):
        if self.quiet:
            return
        self.csv.write(",".join([stage, str(step), f"{elapsed:.1f}"] + [f"{k}={v:.6f}" for k, v in vals.items()]) + "\n")
        self.csv.flush()
