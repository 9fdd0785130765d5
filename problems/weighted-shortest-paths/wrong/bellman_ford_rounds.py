# Correct Bellman-Ford: n - 1 rounds over every road, O(n * m). Too slow for
# 10^4 junctions and 10^4 roads.
import sys


def main():
    data = sys.stdin.read().split()
    n, m, s = int(data[0]), int(data[1]), int(data[2])
    roads = [(int(data[3 + 3 * i]), int(data[4 + 3 * i]), int(data[5 + 3 * i])) for i in range(m)]
    INF = float("inf")
    dist = [INF] * (n + 1)
    dist[s] = 0
    for _ in range(n - 1):
        for u, v, w in roads:
            if dist[u] + w < dist[v]:
                dist[v] = dist[u] + w
    for i in range(1, n + 1):
        print("INF" if dist[i] == INF else dist[i])


main()
