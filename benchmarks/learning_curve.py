"""The learning curve of a ``train_pretrained.py`` run, from its log: a table and a figure.

``train_pretrained.py`` prints one JSON line per epoch (epoch, learning rate, training
loss, minutes) and, every ``--eval-every`` epochs, the Set12 monitor (Gaussian PSNR at
sigma 15/25/50, sensor counts at peaks 10/30/100, the realistic noise kinds with the true
level). This script reads such a log (other lines, e.g. "resumed ...", are skipped),
prints the monitored epochs as an RST table for the benchmarks page, and with
``--figure`` draws the training loss and the Gaussian PSNRs against the epoch::

    python benchmarks/learning_curve.py ~/ckpt/deep3.log [--figure docs/_static/curve.png]

Several logs (the parts of a run resumed across sittings) are read in order; an epoch
logged twice keeps its last line.
"""

import argparse
import json
from pathlib import Path


def read_log(paths):
    """Epoch number -> the last JSON record logged for it, over the logs in order."""
    records = {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("epoch"), int):
                records[record["epoch"]] = record
    return dict(sorted(records.items()))


def rst_table(records):
    """The monitored epochs as an RST simple table (columns: every monitored key)."""
    rows = [r for r in records.values() if any(k.startswith("set12_") for k in r)]
    if not rows:
        return "(no monitored epoch yet)"
    keys = ["epoch", "loss"] + [k for k in rows[-1] if k not in ("epoch", "lr", "loss",
                                                                  "minutes")]
    cells = [[str(r.get(k, "")) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    rule = "  ".join("=" * w for w in widths)
    lines = [rule, "  ".join(k.ljust(w) for k, w in zip(keys, widths)).rstrip(), rule]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines + [rule])


def draw(records, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = list(records)
    fig, (loss_ax, psnr_ax) = plt.subplots(1, 2, figsize=(10, 3.5))
    loss_ax.plot(epochs, [records[e]["loss"] for e in epochs])
    loss_ax.set(xlabel="epoch", ylabel="training loss (MSE)", title="Training loss")
    for sigma in (15, 25, 50):
        points = [(e, r[f"set12_{sigma}"]) for e, r in records.items()
                  if f"set12_{sigma}" in r]
        if points:
            psnr_ax.plot(*zip(*points), marker="o", label=f"sigma {sigma}")
    psnr_ax.set(xlabel="epoch", ylabel="PSNR (dB)", title="Set12, Gaussian, blind")
    psnr_ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("logs", nargs="+")
    parser.add_argument("--figure", default=None, help="PNG file for the curves")
    args = parser.parse_args(argv)
    records = read_log(args.logs)
    if not records:
        raise SystemExit(f"no epoch records in {args.logs}")
    print(rst_table(records))
    if args.figure:
        draw(records, args.figure)


if __name__ == "__main__":
    main()
