# Never compares the shapes; indexes B by A's column count, which runs off
# the end of B (IndexError) when A has more columns than B has rows.
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
    for i in range(r1):
        line = []
        for j in range(c2):
            s = 0
            for k in range(c1):
                s += a[i][k] * b[k][j]
            line.append(str(s))
        print(" ".join(line))


main()
