"""Writes a large Telco-like CSV for the bounded-memory training test: the real Telco rows
resampled with replacement (seeded), with noise on the numeric columns and fresh customer ids.

    python3 python/gen_large_telco.py ROWS OUT.csv

Standard library only, streamed: it never holds more than the 7 043 source rows.
"""
import csv
import random
import sys
from pathlib import Path

def main():
    n, out = int(sys.argv[1]), Path(sys.argv[2])
    src = Path(__file__).resolve().parents[1] / "data/telco-churn.csv"
    with open(src, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    col = {h: i for i, h in enumerate(header)}
    rng = random.Random(20261201)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for k in range(n):
            r = list(rng.choice(rows))
            tenure = max(0, min(72, int(r[col["tenure"]]) + rng.randint(-2, 2)))
            monthly = round(float(r[col["MonthlyCharges"]]) * rng.uniform(0.95, 1.05), 2)
            r[col["customerID"]] = f"{k:07d}-SYNTH"
            r[col["tenure"]] = str(tenure)
            r[col["MonthlyCharges"]] = f"{monthly:.2f}"
            # Blank TotalCharges (new customers) stay blank about as often as in the source.
            if r[col["TotalCharges"]].strip():
                r[col["TotalCharges"]] = f"{max(monthly, tenure * monthly * rng.uniform(0.97, 1.03)):.2f}"
            w.writerow(r)

if __name__ == "__main__":
    main()
