import json
import os
import time

time.sleep(0.3)
pids = [p for p in os.listdir("/proc") if p.isdigit()]
facts = {"processes": len(pids)}
print(f"{len(pids)} processes")
with open("processes.facts", "w") as f:
    f.write(f"processes={len(pids)}\n")
with open(os.environ["OPSBOOK_OUTPUT"], "w") as f:
    json.dump(facts, f)
