# BFS that only checks the upper bounds: a step off the top or left edge
# lands on grid[-1], i.e. the robot "teleports" to the opposite side.
import sys
from collections import deque


def main():
    data = sys.stdin.read().split()
    rows, cols = int(data[0]), int(data[1])
    grid = data[2:2 + rows]
    for r in range(rows):
        for c in range(cols):
            if grid[r][c] == "S":
                start = (r, c)
            elif grid[r][c] == "E":
                end = (r, c)
    dist = {start: 0}
    queue = deque([start])
    while queue:
        r, c = queue.popleft()
        if (r, c) == end:
            break
        for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            nr, nc = r + dr, c + dc
            if nr < rows and nc < cols and grid[nr][nc] != "#":
                key = (nr % rows, nc % cols)
                if key not in dist:
                    dist[key] = dist[(r, c)] + 1
                    queue.append(key)
    print(dist.get(end, -1))


main()
