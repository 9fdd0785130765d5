# Also walks diagonally, so islands that touch only at a corner are merged.
def count_islands(grid):
    rows = len(grid)
    if rows == 0:
        return 0
    cols = len(grid[0])
    seen = [[False] * cols for _ in range(rows)]
    islands = 0
    for r in range(rows):
        for c in range(cols):
            if grid[r][c] != "1" or seen[r][c]:
                continue
            islands += 1
            seen[r][c] = True
            stack = [(r, c)]
            while stack:
                y, x = stack.pop()
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        ny, nx = y + dy, x + dx
                        if 0 <= ny < rows and 0 <= nx < cols and not seen[ny][nx] and grid[ny][nx] == "1":
                            seen[ny][nx] = True
                            stack.append((ny, nx))
    return islands
