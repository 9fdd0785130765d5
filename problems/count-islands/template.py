def count_islands(grid):
    pass
