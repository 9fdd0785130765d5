# Smallest order, but forgets the cycle check: returns the modules it could
# schedule instead of [].
import heapq


def study_plan(n, prerequisites):
    followers = [[] for _ in range(n)]
    missing = [0] * n
    for a, b in prerequisites:
        followers[a].append(b)
        missing[b] += 1
    ready = [m for m in range(n) if missing[m] == 0]
    heapq.heapify(ready)
    plan = []
    while ready:
        m = heapq.heappop(ready)
        plan.append(m)
        for f in followers[m]:
            missing[f] -= 1
            if missing[f] == 0:
                heapq.heappush(ready, f)
    return plan
