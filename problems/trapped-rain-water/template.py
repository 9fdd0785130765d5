def trapped_water(heights):
    pass
