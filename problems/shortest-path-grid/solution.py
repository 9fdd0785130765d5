import sys
from collections import deque


def main():
    data = sys.stdin.read().split()
    rows, cols = int(data[0]), int(data[1])
    grid = data[2:2 + rows]
    # Flatten to one string; index = r * cols + c.
    flat = "".join(grid)
    start, end = flat.index("S"), flat.index("E")
    dist = [-1] * (rows * cols)
    dist[start] = 0
    queue = deque([start])
    while queue:
        cur = queue.popleft()
        if cur == end:
            break
        d = dist[cur] + 1
        r, c = divmod(cur, cols)
        if r > 0:
            nxt = cur - cols
            if dist[nxt] < 0 and flat[nxt] != "#":
                dist[nxt] = d
                queue.append(nxt)
        if r < rows - 1:
            nxt = cur + cols
            if dist[nxt] < 0 and flat[nxt] != "#":
                dist[nxt] = d
                queue.append(nxt)
        if c > 0:
            nxt = cur - 1
            if dist[nxt] < 0 and flat[nxt] != "#":
                dist[nxt] = d
                queue.append(nxt)
        if c < cols - 1:
            nxt = cur + 1
            if dist[nxt] < 0 and flat[nxt] != "#":
                dist[nxt] = d
                queue.append(nxt)
    print(dist[end])


main()
