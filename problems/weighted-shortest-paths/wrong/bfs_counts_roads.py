# Breadth-first search: finds the route with the fewest roads and reports its
# time, which need not be the fastest route.
import sys
from collections import deque


def main():
    data = sys.stdin.read().split()
    n, m, s = int(data[0]), int(data[1]), int(data[2])
    adj = [[] for _ in range(n + 1)]
    for i in range(m):
        u, v, w = int(data[3 + 3 * i]), int(data[4 + 3 * i]), int(data[5 + 3 * i])
        adj[u].append((v, w))
    dist = [None] * (n + 1)
    dist[s] = 0
    queue = deque([s])
    while queue:
        u = queue.popleft()
        for v, w in adj[u]:
            if dist[v] is None:
                dist[v] = dist[u] + w
                queue.append(v)
    for i in range(1, n + 1):
        print("INF" if dist[i] is None else dist[i])


main()
