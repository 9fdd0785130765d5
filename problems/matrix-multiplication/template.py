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
    # your code here


main()
