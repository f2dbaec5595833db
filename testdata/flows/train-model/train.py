"""Train a logistic regression with batch gradient descent, stdlib only."""
import csv
import json
import math
import os

epochs = int({{ inputs.epochs }})
learning_rate = float({{ inputs.learning_rate }})

with open("data.csv", newline="") as f:
    data = [
        ([float(r["tenure_years"]) / 10, float(r["tickets_per_month"]) / 5], int(r["churned"]))
        for r in csv.DictReader(f)
    ]

split = int(len(data) * 0.8)
train, test = data[:split], data[split:]


def predict(w, b, x):
    z = b + sum(wi * xi for wi, xi in zip(w, x))
    return 1 / (1 + math.exp(-z))


w, b = [0.0, 0.0], 0.0
for epoch in range(epochs):
    gw, gb, loss = [0.0, 0.0], 0.0, 0.0
    for x, y in train:
        p = predict(w, b, x)
        loss -= y * math.log(p + 1e-12) + (1 - y) * math.log(1 - p + 1e-12)
        for i, xi in enumerate(x):
            gw[i] += (p - y) * xi
        gb += p - y
    w = [wi - learning_rate * g / len(train) for wi, g in zip(w, gw)]
    b -= learning_rate * gb / len(train)
    if epoch % 50 == 0:
        print(f"epoch {epoch}: loss {loss / len(train):.4f}")

correct = sum(1 for x, y in test if (predict(w, b, x) >= 0.5) == (y == 1))
metrics = {
    "accuracy": round(correct / len(test), 4),
    "loss": round(loss / len(train), 4),
    "epochs": epochs,
    "train_rows": len(train),
    "test_rows": len(test),
}

with open("model.json", "w") as f:
    json.dump({"weights": w, "bias": b}, f)
with open(os.environ["OPSBOOK_OUTPUT"], "w") as f:
    json.dump(metrics, f)
print(json.dumps(metrics))
