# Kahn's algorithm with a first-in-first-out queue: a valid plan, but not the
# smallest one when a small module becomes available late.
from collections import deque


def study_plan(n, prerequisites):
    followers = [[] for _ in range(n)]
    missing = [0] * n
    for a, b in prerequisites:
        followers[a].append(b)
        missing[b] += 1
    ready = deque(m for m in range(n) if missing[m] == 0)
    plan = []
    while ready:
        m = ready.popleft()
        plan.append(m)
        for f in followers[m]:
            missing[f] -= 1
            if missing[f] == 0:
                ready.append(f)
    return plan if len(plan) == n else []
