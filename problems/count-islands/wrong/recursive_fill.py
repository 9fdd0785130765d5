# Correct flood fill, but recursive: a big island goes far deeper than
# Python's recursion limit (RecursionError).
def count_islands(grid):
    rows = len(grid)
    if rows == 0:
        return 0
    cols = len(grid[0])
    seen = set()

    def fill(y, x):
        if not (0 <= y < rows and 0 <= x < cols) or (y, x) in seen or grid[y][x] != "1":
            return
        seen.add((y, x))
        fill(y - 1, x)
        fill(y + 1, x)
        fill(y, x - 1)
        fill(y, x + 1)

    islands = 0
    for r in range(rows):
        for c in range(cols):
            if grid[r][c] == "1" and (r, c) not in seen:
                islands += 1
                fill(r, c)
    return islands
