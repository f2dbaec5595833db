"""Make a reproducible, roughly separable data set of customers."""
import csv
import random

seed = int({{ inputs.seed }})
rows = 400

rng = random.Random(seed)
with open("data.csv", "w", newline="") as f:
    out = csv.writer(f)
    out.writerow(["tenure_years", "tickets_per_month", "churned"])
    for _ in range(rows):
        tenure = rng.uniform(0, 10)
        tickets = rng.uniform(0, 5)
        # Short tenure and many support tickets make churn likely.
        score = 1.5 - 0.6 * tenure + 0.9 * tickets + rng.gauss(0, 0.5)
        out.writerow([f"{tenure:.3f}", f"{tickets:.3f}", 1 if score > 0 else 0])

print(f"wrote {rows} rows to data.csv (seed {seed})")
