def count_arrangements(n):
    full = (1 << n) - 1

    def place(cols, down, up):
        # cols, down, up: bitmasks of squares attacked in the current row by
        # column, by "\" diagonal and by "/" diagonal.
        if cols == full:
            return 1
        count = 0
        free = full & ~(cols | down | up)
        while free:
            bit = free & -free
            free ^= bit
            count += place(cols | bit, ((down | bit) << 1) & full, (up | bit) >> 1)
        return count

    return place(0, 0, 0)
