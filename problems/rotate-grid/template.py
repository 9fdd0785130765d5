def rotate_clockwise(grid):
    pass
