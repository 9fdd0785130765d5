# Only looks at the tallest wall to the left and forgets that water also
# needs a wall on the right: water spills past the right end.
def trapped_water(heights):
    total = 0
    left = 0
    for h in heights:
        if h > left:
            left = h
        total += left - h
    return total
