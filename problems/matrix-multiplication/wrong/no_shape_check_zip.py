# Never compares the shapes; zip() silently stops at the shorter sequence,
# so mismatched tables still "multiply".
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
        return m

    a = read_matrix()
    b = read_matrix()
    for row in a:
        print(" ".join(str(sum(x * y for x, y in zip(row, col))) for col in zip(*b)))


main()
