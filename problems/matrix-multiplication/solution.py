import sys


def main():
    data = sys.stdin.read().split()
    pos = 0

    def read_matrix():
        nonlocal pos
        rows, cols = int(data[pos]), int(data[pos + 1])
        pos += 2
        m = [[int(v) for v in data[pos + r * cols:pos + (r + 1) * cols]] for r in range(rows)]
        pos += rows * cols
        return rows, cols, m

    r1, c1, a = read_matrix()
    r2, c2, b = read_matrix()
    if c1 != r2:
        print("IMPOSSIBLE")
        return
    cols = list(zip(*b))
    out = []
    for row in a:
        out.append(" ".join(str(sum(x * y for x, y in zip(row, col))) for col in cols))
    print("\n".join(out))


main()
