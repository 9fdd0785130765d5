# Transposes (mirrors along the main diagonal) but forgets to reverse:
# that is a reflection, not a rotation.
def rotate_clockwise(grid):
    return [list(column) for column in zip(*grid)]
