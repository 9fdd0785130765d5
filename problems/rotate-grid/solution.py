def rotate_clockwise(grid):
    n = len(grid)
    return [[grid[n - 1 - r][c] for r in range(n)] for c in range(n)]
