# Checks columns and the row - col diagonal, but forgets the row + col one.
def count_arrangements(n):
    used_cols, used_diag = set(), set()

    def place(row):
        if row == n:
            return 1
        count = 0
        for col in range(n):
            if col in used_cols or row - col in used_diag:
                continue
            used_cols.add(col)
            used_diag.add(row - col)
            count += place(row + 1)
            used_cols.remove(col)
            used_diag.remove(row - col)
        return count

    return place(0)
