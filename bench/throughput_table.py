"""What both training-throughput benchmarks share (`train_throughput.py` for Keras,
`torch_throughput.py` for PyTorch): the machine's load meanwhile, and the table. Imports
neither framework."""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path


def add_round_arguments(parser, batch, steps, rounds, warmup, budget) -> None:
    """The options both benchmarks take for their paired rounds (defaults per device)."""
    parser.add_argument("--batch-size", type=int, default=batch, metavar="B",
                        help=f"examples per step (default here: {batch})")
    parser.add_argument("--steps", type=int, default=steps, metavar="N",
                        help=f"timed steps per model per round (default here: {steps})")
    parser.add_argument("--rounds", type=int, default=rounds, metavar="R",
                        help=f"rounds, alternating the two models (default here: {rounds})")
    parser.add_argument("--warmup", type=int, default=warmup, metavar="N",
                        help=f"untimed steps per model first, at least 2 (default: {warmup})")
    parser.add_argument("--budget", type=float, default=budget, metavar="S",
                        help="seconds of timed rounds per configuration, beyond which it runs "
                             f"fewer; 0: no limit (default here: {budget:g})")
    parser.add_argument("--seed", type=int, default=0)


def parse_round_arguments(parser, argv):
    args = parser.parse_args(argv)
    if min(args.batch_size, args.steps, args.rounds) < 1 or args.warmup < 2:
        parser.error("--batch-size, --steps and --rounds must be positive, --warmup at least 2")
    return args


def cpu_seconds():
    """(CPU seconds used by the whole machine, by this process) so far; the machine's from
    /proc/stat (Linux; None elsewhere), steal time included."""
    own = os.times()
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None, own.user + own.system
    busy = sum(fields) - fields[3] - fields[4]  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK"), own.user + own.system


def print_table(rows) -> None:
    header = ("configuration", "batch", "steps×rounds", "generated ex/s", "hand-written ex/s",
              "ratio", "per-round ratios", "busy elsewhere")
    cells = []
    for row in rows:
        if "skipped" in row:
            cells.append((row["name"], str(row["batch"]), row["skipped"]))
        else:
            cells.append((row["name"], str(row["batch"]), row["steps"],
                          f"{row['generated']:.2f}", f"{row['hand']:.2f}",
                          f"{row['ratio']:.3f}", row["range"],
                          f"{row['others']:.1f} cores" if "others" in row else "?"))
    widths = [max([len(header[i])] + [len(c[i]) for c in cells if len(c) == len(header)])
              for i in range(len(header))]
    right = {1, 3, 4, 5, 7}

    def line(values):
        return "  ".join(v.rjust(w) if i in right else v.ljust(w)
                         for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for values in cells:
        if len(values) == len(header):
            print(line(values))
        else:
            print(line(values[:2]) + "  " + values[2])
    for row in rows:
        if "note" in row:
            print(f"note, {row['name']}: {row['note']}")


def paired_rounds(row: dict, train, last_step, where: str, args) -> dict:
    """Time the two models (`train[i](steps)`: the seconds of each of `steps` training steps of
    model i; 0 generated, 1 hand-written) over `args.rounds` rounds, alternating their order,
    within `args.budget` seconds (estimated from `last_step`, the last warm-up step of each);
    `row` completed with the table's cells."""
    batch = row["batch"]
    steps, rounds = args.steps, args.rounds
    pair = sum(last_step)  # seconds for one step of each model
    took = (f"one step takes {last_step[0]:.1f} s (generated) and {last_step[1]:.1f} s "
            f"(hand-written) {where}")
    if args.budget and 2 * pair > args.budget:
        row["skipped"] = f"skipped: {took}; two rounds would exceed --budget {args.budget:g} s"
        return row
    if args.budget and steps * rounds * pair > args.budget:
        steps = max(1, min(steps, int(args.budget // (rounds * pair))))
    seconds = ([], [])  # per model, per round: the seconds of every step
    machine_start, own_start = cpu_seconds()
    wall_start = time.perf_counter()
    for r in range(rounds):
        if r >= 2 and args.budget and time.perf_counter() - wall_start > args.budget:
            break
        order = (0, 1) if r % 2 == 0 else (1, 0)
        for i in order:
            seconds[i].append(train[i](steps))
    if (steps, len(seconds[0])) != (args.steps, rounds):
        row["note"] = (f"{took}: {steps} step(s) × {len(seconds[0])} rounds within "
                       f"--budget {args.budget:g} s")
    machine_end, own_end = cpu_seconds()
    if machine_start is not None:
        others = (machine_end - machine_start) - (own_end - own_start)
        row["others"] = max(0.0, others / (time.perf_counter() - wall_start))
    every = [[t for block in rounds_ for t in block] for rounds_ in seconds]
    row["steps"] = f"{steps}×{len(seconds[0])}"
    row["generated"] = batch / statistics.median(every[0])
    row["hand"] = batch / statistics.median(every[1])
    ratios = [statistics.median(h) / statistics.median(g) for g, h in zip(*seconds)]
    row["ratio"] = statistics.median(ratios)
    row["range"] = f"{min(ratios):.3f}–{max(ratios):.3f}"
    return row
